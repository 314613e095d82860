"""What a study run will cost, before anything is sent: every LLM chapter, every grid cell.

``persona-judge estimate`` calls :func:`estimate_study`. For each chapter of
``study.yaml`` that has an **estimator** (:data:`ESTIMATORS`: chapter name → the
``"module:function"`` that dry-runs it, imported only when used), and for each of the
chapter's grid cells, the estimator receives exactly the parameters the notebook would
receive (:func:`persona_judge.study.config.notebook_parameters`: study settings <
chapter parameters < grid cell < ``-p``) and returns the chapter's spend table: one row
per stage (``stage``, ``calls``, ``cache_hits``, ``prompt_tokens``,
``completion_tokens``, ``dollars``, optionally ``calls at most``: the design's upper
bound) and a ``total`` row. It must run the chapter's
own code through a dry-run client (``dry_run=True``: nothing is sent; answers already
in the cache count as free hits; tokens ≈ characters / 4, completion = ``max_tokens``
unless ``completion_tokens`` is given), so the estimate counts the calls the chapter
makes.

Adding a chapter's estimator is one line in :data:`ESTIMATORS` and a function of one of
two forms: ``(params, options: EstimateOptions) -> DataFrame`` (it opens its own dry-run
client, as chapter 05's does), or ``(params, client) -> DataFrame`` (a second parameter
named ``client``): then a dry-run client for the chapter's ``model`` with its
``llm_settings``, the options' cache and completion length is opened for it and closed
after.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.data.benchmark import DataUnavailableError
from persona_judge.errors import PersonaJudgeError
from persona_judge.study.config import (
    ChapterRun,
    StudyRunError,
    chapters,
    expand,
    notebook_parameters,
    select,
)

#: Chapter name -> "module:function" of its estimator (see the module doc).
ESTIMATORS: dict[str, str] = {
    "00_benchmark_construction": "persona_judge.construction.estimate:estimate_chapter",
    "05_main_results": "persona_judge.evaluation.main_results:estimate_main_results",
    "07_scaling_with_preferences": "persona_judge.analyses.scaling:estimate_scaling",
    "08_persona_alignment": "persona_judge.analyses.alignment:estimate_alignment",
    "09_persona_transfer": "persona_judge.analyses.transfer:estimate_transfer",
    "10_reward_models": "persona_judge.reward_models.study:estimate_reward_models",
    "11_theta_optimisation": "persona_judge.optimisation.theta_study:estimate_theta",
}
COUNTS = ("calls", "calls at most", "cache_hits", "prompt_tokens", "completion_tokens",
          "dollars")


@dataclass(frozen=True)
class EstimateOptions:
    """How to estimate: tokens per answer (None: each request's ``max_tokens``, an upper
    bound) and the cache whose answers count as free (None: the mode's study cache)."""

    completion_tokens: int | None = None
    cache_path: Path | None = None


Estimator = Callable[[Mapping[str, Any], EstimateOptions], pd.DataFrame]


@dataclass(frozen=True)
class CellEstimate:
    """The estimate of one run of one chapter (one grid cell): its spend table by stage."""

    run: ChapterRun
    parameters: Mapping[str, Any]
    spend: pd.DataFrame
    problem: str | None = None  # why this run could not be estimated (an expected problem)

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def total(self) -> pd.Series:
        spend = self.spend.reindex(columns=["stage", *COUNTS])
        rows = spend[spend["stage"] == "total"]
        return rows.iloc[0] if len(rows) else spend[list(COUNTS)].sum(min_count=1)


def estimator(chapter: str) -> Estimator | None:
    """The estimator registered for ``chapter`` (None if it has none)."""
    target = ESTIMATORS.get(chapter)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def estimate_study(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                   only: Sequence[str] | None = None, options: EstimateOptions | None = None
                   ) -> list[CellEstimate]:
    """Dry-run every estimable chapter run (every grid cell) of ``config``; nothing is sent."""
    overrides = dict(overrides or {})
    options = options or EstimateOptions()
    runs = select([r for c in chapters(config) for r in expand(c, overrides)], only)
    estimable = [r for r in runs if r.name in ESTIMATORS]
    if not estimable:
        raise StudyRunError("no chapter to estimate: none of "
                            f"{', '.join(dict.fromkeys(r.name for r in runs))} has an estimator "
                            f"(chapters with one: {', '.join(ESTIMATORS)})")
    out = []
    for run in estimable:
        params = notebook_parameters(run, config, overrides)
        estimate = estimator(run.name)
        assert estimate is not None
        model = params.get("model") or {**config, **run.chapter.parameters, **run.cell,
                                          **overrides}.get("model")
        try:
            spend = _call(estimate, params, options, str(model))
        except DataUnavailableError:
            raise  # no data at all: the whole estimate is impossible, and the message says why
        except PersonaJudgeError as err:
            # one chapter's settings do not fit (e.g. too few users for a study): say so and
            # price the others
            empty = pd.DataFrame([{"stage": "total", **dict.fromkeys(COUNTS, float("nan"))}])
            out.append(CellEstimate(run, params, empty, problem=str(err)))
            continue
        out.append(CellEstimate(run, params, spend))
    return out


def _call(estimate: Callable[..., pd.DataFrame], params: Mapping[str, Any],
          options: EstimateOptions, model: str) -> pd.DataFrame:
    """Run one estimator, opening a dry-run client for it if it takes one."""
    names = list(inspect.signature(estimate).parameters)
    if len(names) < 2 or names[1] != "client":
        return estimate(params, options)
    from persona_judge import paths
    from persona_judge.llm import client_from_env

    cache = options.cache_path or paths.cache_path(str(params.get("mode", "real")))
    settings = {**dict(params.get("llm_settings") or {}), "progress": False,
                "dry_run_completion_tokens": options.completion_tokens}
    client = client_from_env(model, cache_path=cache, dry_run=True, **settings)
    try:
        return estimate(params, client)
    finally:
        client.close()


def grid_table(estimates: Sequence[CellEstimate]) -> pd.DataFrame:
    """One row per chapter run (grid cell) with its totals, and a row for the whole study."""
    rows = []
    for e in estimates:
        total = e.total
        rows.append({"chapter": e.run.name,
                     "cell": ", ".join(f"{k}={v}" for k, v in e.run.cell.items()) or "–",
                     **{k: total[k] for k in COUNTS}})
    table = pd.DataFrame(rows, columns=["chapter", "cell", *COUNTS])
    missing = sum(e.problem is not None for e in estimates)
    whole = {"chapter": "whole study" + (f" (without {missing} run(s) not estimated)"
                                         if missing else ""), "cell": f"{len(rows)} run(s)",
             **{k: table[k].sum(min_count=1) for k in COUNTS}}
    if table["calls at most"].isna().any():
        whole["calls at most"] = float("nan")  # a bound is only a bound if every run has one
    return pd.concat([table, pd.DataFrame([whole])], ignore_index=True)


def stage_table(estimates: Sequence[CellEstimate]) -> pd.DataFrame:
    """Per stage (a fit, or one method's judgments), summed over every chapter run."""
    parts = [e.spend.reindex(columns=["stage", *COUNTS])[e.spend["stage"] != "total"]
             .assign(chapter=e.run.name) for e in estimates]
    if not parts:
        return pd.DataFrame(columns=["chapter", "stage", *COUNTS])
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(["chapter", "stage"], sort=False)[list(COUNTS)].sum(min_count=1) \
        .reset_index()


def format_table(table: pd.DataFrame) -> str:
    """A table as plain text with thousands separators and dollars, for the command line."""
    shown = table.copy()
    for column in ("calls", "calls at most", "cache_hits", "attempts", "retries", "resamples",
                   "failures", "prompt_tokens", "completion_tokens"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{int(v):,}")
    if "dollars" in shown:
        shown["dollars"] = shown["dollars"].map(lambda d: "–" if pd.isna(d) else f"${d:,.2f}")
    return shown.to_string(index=False)
