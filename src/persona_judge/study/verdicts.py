"""The landing page's verdicts: one line per claim of the paper, built from the chapters' glue.

Each claim the book checks is a :class:`Claim` in :data:`CLAIMS`, the one list of them. The
chapter that tests a claim glues a small machine-readable record under the claim's key with
:func:`glue_claim` (this run's number, its interval, and for a comparison the reference it is
compared with). After a run the book step (:func:`write_verdicts`) reads those records from the
executed pages, wherever they are, and writes ``book/generated/verdicts.md``, which the landing
page shows first: the paper's number, this run's number with its interval, and one word.

The word, decided here and nowhere else:

* **reproduced** / **not reproduced**: by the claim's rule (:data:`RULES`), in a real run;
* **not run**: no executed page glued the claim's key (the chapter did not run, or stopped;
  a placeholder page glues nothing);
* **smoke — not a result**: the number comes from a smoke run (synthetic data, a scripted
  stand-in model). A smoke run checks that the pipeline runs; its numbers never decide a
  claim, so the rule is not applied.

Glue keys (a chapter that tests a claim calls ``glue_claim(<key>, ...)``):

* ``claim_headline``: SynthesizeMe (persona + demos), Chatbot Arena, Llama 3.3 70B (06);
* ``claim_alignment``: personas matched to their own PRISM user, % (08), reference: shuffled;
* ``claim_scaling``: accuracy points per additional preference (07);
* ``claim_transfer``: writer's persona minus the judge's own on a smaller judge (09);
* ``claim_reward_model``: a reward model fine-tuned with SynthesizeMe personas, Chatbot
  Arena (10).

A verdict links to its evidence: the table (``Claim.evidence``, a label that
``persona_judge.study.sphinx_ext`` gives a chapter's ``display.table(name=...)``) on the page
that glued the claim.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
NOT_RUN = "not run"
SMOKE = "smoke — not a result"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper that the book checks, and how."""

    key: str     # the glue key the testing chapter writes with glue_claim
    claim: str   # the claim in a reader's words
    paper: str   # the paper's number as the paper gives it
    rule: str    # a key of RULES
    source: str  # where in the paper the number is
    evidence: str  # the label of the table that shows this run's number (tbl-<name>)


CLAIMS: tuple[Claim, ...] = (
    Claim("claim_headline", "SynthesizeMe accuracy, Chatbot Arena, Llama 3.3 70B (%)",
          "61.97", "paper_inside", "Table 3", "tbl-headline"),
    Claim("claim_alignment", "Personas match their own PRISM user (%, vs shuffled)",
          "56.1 vs 47", "above_reference", "Section 6", "tbl-alignment-matching"),
    Claim("claim_scaling", "Accuracy gained per extra preference (points)",
          "+0.8", "paper_inside", "Figure 3", "tbl-scaling-slopes"),
    Claim("claim_transfer", "70B persona on a smaller judge (points vs its own)",
          "transfers", "not_below_zero", "Section 5", "tbl-transfer-accuracy"),
    Claim("claim_reward_model", "Reward model + personas, Chatbot Arena (%)",
          "72.18", "paper_inside", "Table 3", "tbl-rm-accuracy"),
)

#: How a real run's record decides a claim: True means reproduced.
RULES = {
    # the paper's number lies inside this run's interval
    "paper_inside": lambda rec, paper: rec["low"] <= paper <= rec["high"],
    # this run's interval lies wholly above the reference it is compared with
    "above_reference": lambda rec, paper: rec["low"] > rec["reference"],
    # the interval of a difference does not lie wholly below zero (no loss shown)
    "not_below_zero": lambda rec, paper: rec["high"] >= 0,
}
RULE_TEXT = {
    "paper_inside": "the paper's number lies inside this run's 95% interval",
    "above_reference": "this run's 95% interval lies above the reference",
    "not_below_zero": "the 95% interval of the difference does not lie below zero",
}


def glue_claim(key: str, value: float, low: float, high: float, *, smoke: bool,
               reference: float | None = None, label: str = "") -> None:
    """Glue a claim's machine-readable record (hidden; the landing page reads it).

    ``label`` qualifies the number for a reader (``"3B judge"``); ``reference`` is what a
    comparison rule compares with (the shuffled personas' accuracy).
    """
    from myst_nb import glue

    if key not in {c.key for c in CLAIMS}:
        raise KeyError(f"{key!r} is not a claim key; the keys are in persona_judge.study."
                       "verdicts.CLAIMS")
    record = {"value": _number(value), "low": _number(low), "high": _number(high),
              "reference": _number(reference), "smoke": bool(smoke), "label": label}
    glue(key, json.dumps(record), display=False)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def read_glued(path: Path) -> dict[str, Any]:
    """The values a notebook glued, by key (their plain-text form, evaluated)."""
    import nbformat

    found: dict[str, Any] = {}
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            name = scrap.get("name")
            # myst_nb stores a glued value under its mime prefix (application/papermill.record/)
            text = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if name and text is not None:
                try:
                    found[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    found[name] = text
    return found


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    word: str
    this_run: str          # this run's number and interval, for a reader
    page: str | None       # the executed page (relative to book/executed, no suffix)


def _fmt(value: float | None, signed: bool) -> str:
    from persona_judge.study.display import pct
    from persona_judge.study.display import signed as with_sign

    return (with_sign(value) if signed else pct(value)) if value is not None else "–"


def verdict(claim: Claim, record: Mapping[str, Any] | None, page: str | None) -> Verdict:
    """The word and the reader's number for one claim and its glued record (None: not run)."""
    if not record or record.get("value") is None:
        return Verdict(claim, NOT_RUN, NOT_RUN, page if record else None)
    signed = claim.rule == "not_below_zero" or claim.paper.startswith("+")
    text = _fmt(record["value"], signed)
    if record.get("low") is not None and record.get("high") is not None:
        text += f" [{_fmt(record['low'], signed)}, {_fmt(record['high'], signed)}]"
    if record.get("reference") is not None:
        text += f" vs {_fmt(record['reference'], False)}"
    if record.get("label"):
        from persona_judge.study.display import reader_name

        label = " ".join(reader_name(word) for word in str(record["label"]).split())
        text += f" ({label})"
    if record.get("smoke"):
        return Verdict(claim, SMOKE, text, page)
    if record.get("low") is None or record.get("high") is None:
        return Verdict(claim, NOT_RUN, text, page)
    paper = _paper_number(claim.paper)
    held = RULES[claim.rule](record, paper)
    return Verdict(claim, REPRODUCED if held else NOT_REPRODUCED, text, page)


def _paper_number(text: str) -> float:
    try:
        return float(text.split()[0].replace("+", ""))
    except ValueError:
        return math.nan


def collect(executed_dir: Path) -> list[Verdict]:
    """Every claim's verdict from the executed pages under ``executed_dir``."""
    records: dict[str, tuple[Any, str]] = {}
    for path in sorted(executed_dir.rglob("*.ipynb")):
        page = path.relative_to(executed_dir).with_suffix("").as_posix()
        glued = read_glued(path)
        for claim in CLAIMS:
            value = glued.get(claim.key)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    value = None  # a placeholder page's "not run"
            if claim.key in glued and claim.key not in records:
                records[claim.key] = (value, page)
    return [verdict(c, *records.get(c.key, (None, None))) for c in CLAIMS]


def verdicts_markdown(verdicts: Sequence[Verdict], provenance: Mapping[str, str]) -> str:
    """The landing page's verdict table (MyST): claim, paper, this run, verdict with its link.

    ``provenance`` maps every page of the book to the short name of the run it came from;
    when the book's pages come from more than one run, each row says which.
    """
    mixed = len(set(provenance.values())) > 1
    rows = ['<table class="verdicts">',
            "<thead><tr><th>Claim</th><th>Paper</th><th>This run [95% CI]</th>"
            "<th>Verdict</th></tr></thead><tbody>"]
    for v in verdicts:
        word_class = {REPRODUCED: "yes", NOT_REPRODUCED: "no", NOT_RUN: "none",
                      SMOKE: "smoke"}[v.word]
        word = v.word
        if v.page:
            # a chapter that did not run has no evidence table: its page says why
            anchor = "" if v.word == NOT_RUN else f"#{v.claim.evidence}"
            word = f'<a href="executed/{v.page}.html{anchor}">{v.word}</a>'
        number = v.this_run
        if mixed and v.page and provenance.get(v.page):
            number += f" <small>({provenance[v.page]})</small>"
        rows.append(f"<tr><td>{v.claim.claim}</td><td>{v.claim.paper}</td>"
                    f"<td>{number}</td><td class=\"verdict-{word_class}\">{word}</td></tr>")
    rows.append("</tbody></table>")
    return "\n".join(rows)
