"""The six settings side by side: find each grid cell's saved results, lay them out like the paper.

Chapter 05 runs once per cell of its ``grid`` in ``study.yaml`` (dataset × judge model)
and saves each cell's judgments in ``paths.run_dir("main_results", key)``, keyed by
everything that defines the cell (:func:`~persona_judge.evaluation.main_results.results_key`).
The summary chapter calls :func:`gather_grid` with the same grid and the same settings;
for each cell it loads the cell's users, computes the same key and reads the folder, so a
cell that has not run (or ran with other settings) shows as **not run**, never as
another run's numbers. Accuracies are recomputed from the saved judgments with the
chapter's bootstrap settings; the interval resamples **users** (``ci_unit``), as chapter
05's headline does, so "the paper's number lies inside our interval" is a statement about
users in general.

:func:`paper_layout` turns the long result into the paper's table layout (rows =
methods, columns = settings) with the paper's number, Δ and whether the paper's number
lies inside our interval; :func:`headline` is the paper's main setting alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from persona_judge.errors import PersonaJudgeError
from persona_judge.evaluation.main_results import (
    METHOD_ORDER,
    RESULT_PARAMETERS,
    MainResults,
    find_results,
    method_rank,
)
from persona_judge.evaluation.paper import MAIN_SETTING, judge_key, paper_numbers, setting_label
from persona_judge.evaluation.report import Unit, beside_paper, pooled_accuracy
from persona_judge.evaluation.stats import DEFAULT_RESAMPLES

NOT_RUN = "not run"
UsersLoader = Callable[[str], Sequence[Any]]


@dataclass(frozen=True)
class Cell:
    """One setting of the grid: a dataset and a judge model."""

    dataset: str
    model: str

    @property
    def label(self) -> str:
        return setting_label(self.dataset, self.model)


def grid_cells(grid: Mapping[str, Sequence[Any]]) -> list[Cell]:
    """The cells of a ``{dataset: [...], model: [...]}`` grid, datasets outermost."""
    unknown = set(grid) - {"dataset", "model"}
    if unknown or not grid.get("dataset") or not grid.get("model"):
        raise PersonaJudgeError(f"the settings grid must map 'dataset' and 'model' to lists of "
                                f"values (and nothing else); got {dict(grid)!r}")
    return [Cell(str(d), str(m)) for d, m in itertools.product(grid["dataset"], grid["model"])]


def gather_grid(grid: Mapping[str, Sequence[Any]], params: Mapping[str, Any],
                load_users: UsersLoader, *, n_resamples: int = DEFAULT_RESAMPLES,
                seed: int = 0, unit: Unit = "user") -> pd.DataFrame:
    """One row per cell and method: accuracy and CI of the cell's saved results, or not run.

    ``params`` are the summary chapter's settings shared by every cell (mode, seed,
    max_users, method settings, ...: :data:`RESULT_PARAMETERS` except dataset and model);
    ``load_users(dataset)`` returns the users a cell of that dataset loads (the same call
    chapter 05 makes). A dataset whose users cannot be loaded (e.g. not downloaded) makes
    its cells "not run" with the reason. ``unit`` is what the interval resamples (whole
    users by default; a cell with a single user then has no interval).
    """
    missing = [k for k in RESULT_PARAMETERS if k not in ("dataset", "model") and k not in params]
    if missing:
        raise PersonaJudgeError(f"the grid summary needs the setting(s) {', '.join(missing)} "
                                "(the same values chapter 05 ran with)")
    users: dict[str, Sequence[Any] | str] = {}
    rows: list[dict[str, Any]] = []
    for cell in grid_cells(grid):
        if cell.dataset not in users:
            try:
                users[cell.dataset] = load_users(cell.dataset)
            except PersonaJudgeError as err:
                users[cell.dataset] = f"data not available ({str(err).splitlines()[0]})"
        base = {"dataset": cell.dataset, "model": cell.model, "setting": cell.label,
                "judge": judge_key(cell.model) or cell.model}
        cell_users = users[cell.dataset]
        folder = None if isinstance(cell_users, str) else find_results(
            {**params, "dataset": cell.dataset, "model": cell.model}, cell_users)
        if folder is None:
            why = cell_users if isinstance(cell_users, str) else \
                "no saved results for these settings"
            rows.append({**base, "status": NOT_RUN, "why": why, "folder": ""})
            continue
        judgments = MainResults.load(folder, artifacts=False).judgments
        pooled = pooled_accuracy(judgments, unit=unit, n_resamples=n_resamples, seed=seed)
        for r in pooled.itertuples(index=False):
            rows.append({**base, "status": "run", "why": "", "folder": folder.name,
                         "method": r.method, "accuracy": r.accuracy, "ci_low": r.ci_low,
                         "ci_high": r.ci_high, "ci_unit": r.ci_unit, "n_users": r.n_users,
                         "n_judgments": r.n_judgments})
    columns = ["dataset", "model", "setting", "judge", "status", "why", "folder", "method",
               "accuracy", "ci_low", "ci_high", "ci_unit", "n_users", "n_judgments"]
    return pd.DataFrame(rows, columns=columns)


def append_reward_models(long: pd.DataFrame, *, n_resamples: int = DEFAULT_RESAMPLES,
                         seed: int = 0) -> pd.DataFrame:
    """``long`` (from :func:`gather_grid`) with chapter 10's reward-model rows appended.

    For each cell that ran, the latest reward-model results saved beside its chapter-05
    results (:func:`persona_judge.reward_models.study.latest_results`) add one row per method,
    with an interval that resamples users. A cell without them is left as it was (the
    paper's reward-model rows then show as "not run"). Needs no torch.
    """
    from persona_judge import paths
    from persona_judge.reward_models.study import latest_results

    if long.empty or "folder" not in long:
        return long
    extra = []
    ran = long[(long["status"] == "run") & (long["folder"] != "")]
    for (_, _, folder), group in ran.groupby(["dataset", "model", "folder"], sort=False):
        results = latest_results(paths.runs_dir() / str(folder))
        if results is None or results.judgments.empty:
            continue
        pooled = pooled_accuracy(results.judgments, unit="user", n_resamples=n_resamples,
                                 seed=seed)
        first = group.iloc[0]
        for r in pooled.itertuples(index=False):
            if r.method in set(group["method"]):
                continue
            extra.append({**{k: first[k] for k in ("dataset", "model", "setting", "judge",
                                                   "status", "why", "folder")},
                          "method": r.method, "accuracy": r.accuracy, "ci_low": r.ci_low,
                          "ci_high": r.ci_high, "n_users": r.n_users,
                          "n_judgments": r.n_judgments})
    if not extra:
        return long
    return pd.concat([long, pd.DataFrame(extra, columns=long.columns)], ignore_index=True)


def _expected_methods(long: pd.DataFrame, dataset: str) -> list[str]:
    """The methods a cell of ``dataset`` has when it runs (from the cells that did run)."""
    ran = long[long["status"] == "run"]
    same = ran[ran["dataset"] == dataset]
    methods = list(dict.fromkeys((same if len(same) else ran)["method"]))
    if not len(same):
        from persona_judge.evaluation.main_results import DEMOGRAPHICS, uses_survey

        methods = [m for m in methods if m != DEMOGRAPHICS or uses_survey(dataset)]
    return methods


def with_paper(long: pd.DataFrame) -> pd.DataFrame:
    """Every (cell, method) of this run or of the paper, with the paper's number, Δ, inside CI.

    A cell that did not run lists the methods the other cells of its dataset have, as
    "not run"; methods the paper reports that this run does not have (GPO, the fine-tuned
    reward models) appear as "not run" too, with the paper's number.
    """
    frames = []
    paper = paper_numbers("paper")
    for (dataset, model), group in long.groupby(["dataset", "model"], sort=False):
        ran = group[group["status"] == "run"]
        published = paper[(paper["dataset"] == dataset)
                          & (paper["judge_model"] == judge_key(model))]
        ours = ran[["method", "accuracy", "ci_low", "ci_high", "n_users", "n_judgments"]]
        wanted = _expected_methods(long, dataset) if ran.empty else []
        extra = [m for m in dict.fromkeys([*wanted, *published["method"]])
                 if m not in set(ours["method"])]
        if extra:
            ours = pd.concat([ours, pd.DataFrame({
                "method": extra, "accuracy": float("nan"), "ci_low": float("nan"),
                "ci_high": float("nan"), "n_users": 0, "n_judgments": 0})], ignore_index=True)
        ours = beside_paper(ours.reset_index(drop=True), dataset, model)
        first = group.iloc[0]
        ours.insert(0, "dataset", dataset)
        ours.insert(1, "model", model)
        ours.insert(2, "setting", first["setting"])
        ours.insert(3, "judge", first["judge"])
        ours["status"] = ["run" if pd.notna(a) else NOT_RUN for a in ours["accuracy"]]
        ours["why"] = first["why"] if ran.empty else ""
        frames.append(ours)
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    cells = {key: i for i, key in enumerate(dict.fromkeys(
        zip(long["dataset"], long["model"], strict=True)))}
    out["_cell"] = [cells[k] for k in zip(out["dataset"], out["model"], strict=True)]
    out["_rank"] = out["method"].map(method_rank)
    return out.sort_values(["_cell", "_rank"], kind="stable").drop(
        columns=["_cell", "_rank"]).reset_index(drop=True)


def paper_layout(table: pd.DataFrame, dataset: str,
                 cell_text: Callable[[pd.Series], str]) -> pd.DataFrame:
    """Rows = methods, columns = the judges of ``dataset``; each cell ``cell_text(row)``."""
    part = table[table["dataset"] == dataset]
    judges = list(dict.fromkeys(part["judge"]))
    methods = sorted(dict.fromkeys(part["method"]), key=method_rank)
    out = pd.DataFrame({"method": methods})
    for judge in judges:
        rows = part[part["judge"] == judge].set_index("method")
        out[judge] = [cell_text(rows.loc[m]) if m in rows.index else "–" for m in methods]
    return out


def headline(table: pd.DataFrame, setting: tuple[str, str] = MAIN_SETTING) -> pd.DataFrame:
    """The paper's main setting (Chatbot Arena, Llama 3.3 70B): the methods the paper reports
    there and this run's other methods, in :data:`METHOD_ORDER`; the paper's rows as "not run"
    when the grid does not hold that setting or it did not run."""
    part = table[(table["dataset"] == setting[0]) & (table["judge"] == setting[1])] \
        if len(table) else table
    if not len(part):
        paper = paper_numbers("paper")
        rows = paper[(paper["dataset"] == setting[0]) & (paper["judge_model"] == setting[1])]
        part = pd.DataFrame({"dataset": setting[0], "model": setting[1],
                             "setting": setting_label(*setting), "judge": setting[1],
                             "method": rows["method"], "accuracy": float("nan"),
                             "ci_low": float("nan"), "ci_high": float("nan"), "n_users": 0,
                             "n_judgments": 0, "paper": rows["accuracy"],
                             "delta": float("nan"), "paper inside CI": None,
                             "status": NOT_RUN, "why": "not in this run's grid"})
    part = part.assign(_rank=part["method"].map(method_rank),
                       _keep=part["paper"].notna() | (part["status"] == "run"))
    return part[part["_keep"]].sort_values("_rank", kind="stable").drop(
        columns=["_rank", "_keep"]).reset_index(drop=True)


__all__ = ["METHOD_ORDER", "NOT_RUN", "Cell", "append_reward_models", "gather_grid",
           "grid_cells", "headline",
           "paper_layout", "with_paper"]
