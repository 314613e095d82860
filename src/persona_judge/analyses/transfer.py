"""Persona transfer across judges: personas written by one model, used by another (chapter 09).

The paper optimised its persona instruction Θ once, with the 70B model on PRISM, and
reports that it transfers to Chatbot Arena and to smaller judges (8B, 3B). It does not move
*personas* from one judge to another. This module does: is a persona written by a strong
model also useful to a small judge, compared with the persona the small judge writes
itself?

**Design.** Every *writer* model (default: the study's model) and every *judge* fits
SynthesizeMe on every user (the chapter's method settings; with ``components =
["persona"]`` only steps 1-2 run, whose requests are the same as a full fit's, so a full fit
of the same model and settings in chapter 05 serves them from the cache). Then each judge J
judges every test pair of every user in both orders under these conditions:

* ``default judge`` — J with no persona;
* ``own persona`` — J with the persona J wrote;
* ``persona by W`` — J with the persona writer W wrote, for each writer W other than J.

``components`` chooses what moves from writer to judge: ``["persona"]`` (default: the
persona alone, what the question is about) or ``["persona", "demos"]`` (the whole final
prompt, demos and their reasoning included). A user for whom a writer has no usable persona
is judged with nothing, and those judgments are flagged.

**Statistics**, per judge, on exactly the same judgments: accuracy with a bootstrap CI
(resampling test pairs with both their orders), and paired comparisons — persona by W vs
own persona, each vs the default judge — with a paired bootstrap CI of the difference and
sign-flip permutation tests on per-pair and per-user differences, Holm-adjusted over the
judge's family (:func:`persona_judge.evaluation.report.comparisons_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.analyses.common import (
    SpendLog,
    fit_cells,
    method_config,
    save_study,
    short_model,
    sibling_client,
    smoke_limited,
)
from persona_judge.data.records import UserSplit
from persona_judge.errors import SettingsError
from persona_judge.evaluation.report import comparisons_table, pooled_accuracy
from persona_judge.evaluation.stats import DEFAULT_RESAMPLES
from persona_judge.method.artifact import COMPONENTS, SynthesizeMeArtifact
from persona_judge.method.judge import ORDERS, correct_letter, judge_request
from persona_judge.method.synthesizeme import SynthesizeMeConfig

DEFAULT = "default judge"
OWN = "own persona"
SMALL_JUDGES = ["meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
                "meta-llama/Llama-3.2-3B-Instruct-Turbo"]
DESIGN_DEFAULTS: dict[str, Any] = {
    "dataset": "chatbot_arena", "max_users": 40, "writers": None, "judges": SMALL_JUDGES,
    "components": ["persona"]}


def by_writer(writer: str) -> str:
    return f"persona by {short_model(writer)}"


@dataclass(frozen=True)
class TransferDesign:
    """Who writes personas, who judges with them, and what moves from writer to judge."""

    writers: tuple[str, ...]
    judges: tuple[str, ...]
    components: tuple[str, ...] = ("persona",)

    def __post_init__(self) -> None:
        writers = tuple(dict.fromkeys(self.writers))
        if not writers or not all(isinstance(w, str) and w for w in writers):
            raise SettingsError(f"setting writers must name at least one model, got "
                                f"{list(self.writers)!r}")
        # Every writer also judges with its own personas; order: writers, then the others.
        judges = tuple(dict.fromkeys((*writers, *self.judges)))
        if not all(isinstance(j, str) and j for j in judges):
            raise SettingsError(f"setting judges must be a list of model names, got "
                                f"{list(self.judges)!r}")
        shorts = [short_model(m) for m in judges]
        if len(set(shorts)) != len(shorts):
            raise SettingsError(f"models must differ in their last name part, got {judges}")
        components = tuple(self.components)
        if not components or set(components) - set(COMPONENTS):
            raise SettingsError(f"setting components must be a non-empty subset of "
                                f"{list(COMPONENTS)}, got {list(components)!r}")
        object.__setattr__(self, "writers", writers)
        object.__setattr__(self, "judges", judges)
        object.__setattr__(self, "components", components)

    @property
    def models(self) -> tuple[str, ...]:
        """Every model that fits (writers and judges)."""
        return self.judges

    def conditions(self, judge: str) -> list[tuple[str, str | None]]:
        """(condition name, whose persona) for one judge; None = no persona."""
        out: list[tuple[str, str | None]] = [(DEFAULT, None), (OWN, judge)]
        out += [(by_writer(w), w) for w in self.writers if w != judge]
        return out


@dataclass
class TransferResults:
    """Every fit per model, every test judgment per judge and condition, and spend.

    ``judgments`` columns: judge, writer ("" for the default judge), method (the condition),
    user_id, pair_id, order, choice, correct, failure, carries, flag.
    """

    judgments: pd.DataFrame
    spend: pd.DataFrame
    artifacts: dict[str, dict[str, SynthesizeMeArtifact]] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        named = [(f"{short_model(m)}--{u}".replace("/", "_"), a)
                 for m, arts in self.artifacts.items() for u, a in arts.items()]
        return save_study(folder, {"judgments": self.judgments, "spend": self.spend}, named)


def run_transfer(users: Sequence[UserSplit], clients: Mapping[str, Any],
                 config: SynthesizeMeConfig, design: TransferDesign, *,
                 max_workers: int = 4) -> TransferResults:
    """Fit every model on every user, then judge with every (judge, persona) condition."""
    missing = [m for m in design.models if m not in clients]
    if missing:
        raise SettingsError(f"no client for model(s) {', '.join(missing)}")
    fit_config = replace(config, components=design.components)
    log = SpendLog()
    fittable = {u.user_id: u for u in users if u.train}
    if not fittable:
        raise SettingsError(f"none of the {len(users)} user(s) has a training preference to "
                            "fit a persona on")
    artifacts: dict[str, dict[str, SynthesizeMeArtifact]] = {}
    for model in design.models:
        with log.stage(f"fit SynthesizeMe ({'+'.join(design.components)})", clients[model]):
            artifacts[model] = fit_cells(fittable, clients[model], fit_config,
                                         max_workers=max_workers,
                                         what=f"SynthesizeMe with {short_model(model)}")
    rows = []
    for judge in design.judges:
        jobs = []
        for name, writer in design.conditions(judge):
            for user in fittable.values():
                state = None if writer is None else \
                    artifacts[writer][user.user_id].with_components(design.components)
                carries, flag = ("nothing", "") if state is None else state.prompt_content()
                for pref in user.test:
                    for order in ORDERS:
                        request = judge_request(pref, order, step="test",
                                                default_template=config.judge_default) \
                            if state is None else state.judge_request(pref, order)
                        jobs.append((name, writer, user.user_id, pref.pair_id, order, carries,
                                     flag, request))
        with log.stage(f"judge test pairs with {short_model(judge)}", clients[judge]):
            verdicts = clients[judge].judge_many([j[-1] for j in jobs],
                                                 desc=f"judge {short_model(judge)}")
        for (name, writer, user_id, pair_id, order, carries, flag, _), v in zip(
                jobs, verdicts, strict=True):
            rows.append({"judge": judge, "writer": writer or "", "method": name,
                         "user_id": user_id, "pair_id": pair_id, "order": order,
                         "choice": v.choice, "correct": v.choice == correct_letter(order),
                         "failure": v.failure, "carries": carries, "flag": flag})
    judgments = pd.DataFrame(rows, columns=["judge", "writer", "method", "user_id", "pair_id",
                                            "order", "choice", "correct", "failure",
                                            "carries", "flag"])
    return TransferResults(judgments, log.table(), artifacts)


# -- statistics ------------------------------------------------------------------------------
def accuracy_per_judge(judgments: pd.DataFrame, *, unit: str = "pair",
                       n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per judge and condition: accuracy (%) with a bootstrap CI."""
    parts = []
    for judge, group in judgments.groupby("judge", sort=False):
        pooled = pooled_accuracy(group, unit=unit, n_resamples=n_resamples,  # type: ignore[arg-type]
                                 seed=seed)
        pooled.insert(0, "judge", judge)
        parts.append(pooled)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def transfer_comparisons(judgments: pd.DataFrame, design: TransferDesign, *,
                         n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per judge: each other writer's persona vs the judge's own, and each vs the default
    judge; paired, Holm-adjusted within the judge's family."""
    parts = []
    for judge in design.judges:
        group = judgments[judgments["judge"] == judge]
        if group.empty:
            continue
        names = [n for n, _ in design.conditions(judge)]
        pairs = [(n, OWN) for n in names if n not in (DEFAULT, OWN)]
        pairs += [(n, DEFAULT) for n in names if n != DEFAULT]
        table = comparisons_table(group, pairs, n_resamples=n_resamples, seed=seed)
        table.insert(0, "judge", judge)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# -- the chapter's settings and its estimate ---------------------------------------------------
def design_from_settings(settings: Mapping[str, Any]) -> TransferDesign:
    """The design a chapter's settings ask for (``writers: null`` = the study's model)."""
    s = {**DESIGN_DEFAULTS, **smoke_limited(settings)}
    writers = s["writers"] or [s.get("model", "meta-llama/Llama-3.3-70B-Instruct-Turbo")]
    if isinstance(writers, str):
        writers = [writers]
    judges = s["judges"] or []
    if isinstance(judges, str):
        judges = [judges]
    return TransferDesign(tuple(writers), tuple(judges), tuple(s["components"]))


def transfer_users(settings: Mapping[str, Any]) -> tuple[list[UserSplit], str]:
    """The chapter's users (``max_users`` drawn at random, seeded) and a note on who the load
    set aside."""
    from persona_judge.study.notebook import load_benchmark_data, sample_users, set_aside_note

    s = {**DESIGN_DEFAULTS, **smoke_limited(settings)}
    data = load_benchmark_data(str(s["dataset"]), str(s.get("mode", "real")))
    return sample_users(data.users, s["max_users"], int(s.get("seed", 0))), set_aside_note(data)


def estimate_transfer(config: Mapping[str, Any], client: Any) -> pd.DataFrame:
    """Dry-run chapter 09: ``client`` (``dry_run=True``) prices its own model; every other
    model gets a sibling client with the same endpoint, cache and settings.

    ``config``: the chapter's settings as the runner passes them (missing ones take the
    chapter's defaults). Returns calls, tokens and dollars per stage and model.
    """
    settings = {**DESIGN_DEFAULTS, **smoke_limited(config)}
    design = design_from_settings(settings)
    users, _ = transfer_users(settings)
    clients = {m: client if m == client.model else sibling_client(client, m)
               for m in design.models}
    try:
        # one fit at a time: with several in flight, whether a request two fits share is
        # counted as a call or a cache hit depends on which thread gets there first, and
        # the estimate (and the chapter's record of it) would vary from run to run
        result = run_transfer(users, clients, method_config(settings), design, max_workers=1)
    finally:
        for other in clients.values():
            if other is not client:
                other.close()
    return result.spend
