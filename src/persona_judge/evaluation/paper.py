"""The paper's published numbers, read from one data file, and matched to this study's settings.

Every accuracy the book compares against lives in ``paper_numbers.csv`` next to this
module, one row per (dataset, judge model, method), with the exact place it was read
(``source``: paper, table, row and column) and a ``kind``: ``paper`` for the SynthesizeMe
paper itself (Ryan et al. 2025, Table 3), ``reprint`` for another paper's reprint of a
SynthesizeMe number (P-GenRM, Zhang et al. 2026), kept apart because reprints differ
(labels, tie handling). Only numbers that were actually found are entered; a cell the
file does not hold is shown as "–", never guessed. ``method`` uses this study's method
names where a method maps onto ours (``default judge``, ``Memory``,
``SynthesizeMe (persona + demos)``, ...), and the paper's own name otherwise (``GPO``,
the fine-tuned reward models, which chapter 10 trains).

Judge models are matched by family and size (:func:`judge_key`): a Together id such as
``meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo`` and a served name such as
``meta-llama/Llama-3.1-8B-Instruct`` both read as ``Llama-3.1-8B``, the column name the
paper uses.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import pandas as pd

PAPER_FILE = "paper_numbers.csv"
COLUMNS = ("dataset", "judge_model", "method", "paper_label", "accuracy", "ci_low", "ci_high",
           "kind", "source", "note")
#: The paper's main setting: the headline of the summary chapter.
MAIN_SETTING = ("chatbot_arena", "Llama-3.3-70B")

_LLAMA = re.compile(r"llama[-_ ]?(\d+(?:\.\d+)?)")
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])")


def judge_key(model: str) -> str | None:
    """``"Llama-3.3-70B"`` for any spelling of a Llama judge id; None if not recognisable."""
    text = model.lower().rsplit("/", 1)[-1]
    family, size = _LLAMA.search(text), _SIZE.search(text)
    if not family or not size:
        return None
    return f"Llama-{family.group(1)}-{size.group(1).upper()}B"


@lru_cache(maxsize=1)
def _read() -> pd.DataFrame:
    text = resources.files("persona_judge.evaluation").joinpath(PAPER_FILE)
    with resources.as_file(text) as path:
        frame = pd.read_csv(path, dtype={"note": str, "source": str}, keep_default_na=False,
                            na_values={"accuracy": [""], "ci_low": [""], "ci_high": [""]})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"persona_judge/evaluation/{PAPER_FILE} lacks column(s) {missing}; "
                         f"it needs {', '.join(COLUMNS)}")
    for number in ("accuracy", "ci_low", "ci_high"):
        frame[number] = pd.to_numeric(frame[number])
    bad = frame[~frame["kind"].isin(["paper", "reprint"])]
    if len(bad):
        raise ValueError(f"persona_judge/evaluation/{PAPER_FILE}, row {bad.index[0] + 2}: kind "
                         f"must be 'paper' or 'reprint', got {bad['kind'].iloc[0]!r}")
    return frame


def paper_numbers(kind: str | None = "paper") -> pd.DataFrame:
    """Every published number of ``kind`` (``"paper"``, ``"reprint"``, None for both)."""
    frame = _read()
    out = frame if kind is None else frame[frame["kind"] == kind]
    return out.reset_index(drop=True).copy()


def paper_accuracy(dataset: str, model: str, kind: str = "paper") -> dict[str, float]:
    """``{method: accuracy}`` the paper reports for this dataset and judge (may be empty)."""
    key = judge_key(model)
    frame = paper_numbers(kind)
    rows = frame[(frame["dataset"] == dataset) & (frame["judge_model"] == key)]
    return dict(zip(rows["method"], rows["accuracy"], strict=True))


def setting_label(dataset: str, model: str) -> str:
    """``"Chatbot Arena, Llama-3.3-70B"`` (the judge's family and size where known)."""
    names = {"chatbot_arena": "Chatbot Arena", "prism": "PRISM"}
    return f"{names.get(dataset, dataset)}, {judge_key(model) or model}"
