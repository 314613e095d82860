"""Accuracy versus the number of preferences a method learns from (chapter 07).

The paper reports about **+0.8 accuracy points per additional context preference**, and that
as few as 5 preferences beat the non-personalized baselines. This module reruns that study
on any dataset and model:

**Design.** Each user's *pool* is their train + validation preferences (everything the
method may learn from; the test pairs are never touched). For a size k, the subset keeps the
pool's train/validation proportions: ``k_val = floor(k · n_val / n)`` validation pairs and
``k_train = k − k_val`` training pairs (:func:`split_sizes`; at least one training pair for
k ≥ 1, all of them at k = n). A *draw* d shuffles the user's training pairs and validation
pairs once (seeded by the study seed, the user and d) and takes the first ``k_train`` and
``k_val`` of them, so the subsets of one draw are **nested**: the subset at k contains the
one at every smaller k. Kept pairs stay in their original order, so at k = n the fit is
exactly the full fit of chapter 05 (same requests, served from the cache). A user
contributes at every k of the grid up to their pool size; draws that give the same subset
(always at k = n, often at k = 1) are fitted once (the ``draws`` column lists the draws
merged, the judgments' ``n_draws`` column how many draws a fit stands for). Users with
a pool smaller than ``min_preferences`` can be left out first: ``min_preferences =
max(k_grid)`` gives a balanced design in which every user takes part at every k.

**Every user weighs the same at every k** (:func:`user_weights`), by weights, not
duplication: within a (method, user, k), a judgment of a fit weighs the number of draws the
fit stands for (so a subset that came out identical in all draws weighs as much as
``seeds_per_k`` different ones, and the default judge, judged once, as much as the fits),
and the weights of each (method, user, k) sum to one. So a user at the limit of their pool,
a user with more test pairs and the default judge count exactly as much as anyone else:
the by-k accuracy is the mean of the users' accuracies (the macro mean of chapter 05's
"three ways" table, not its pooled accuracy), and :func:`gee_slope`, :func:`first_k_above`
and :func:`difference_by_k` use the same weights. Only which users reach a k (their pool
sizes) changes with k; the default judge's slope shows what that does.

At each (user, k, draw) cell, **SynthesizeMe** (persona + demos, the chapter's settings) is
fitted on the subset and **Memory** (:mod:`~persona_judge.baselines.memory`, the baseline of
chapter 05) sees the same k preferences; the **default judge** sees none, so it is judged
once per user and its judgments are repeated at every k that user reaches (one set of
calls). Every fit is judged on the user's **full test set in both orders**; ties and
unparseable answers are wrong.

**Statistics** (small pure functions, tested against statsmodels and hand computations):

* :func:`accuracy_by_k` — accuracy per method and k (the mean over users, each weighing
  the same), with a percentile bootstrap CI that resamples **users** (a user's draws, pairs
  and orders are not independent);
* :func:`difference_by_k` — a method minus the default judge on the same judgments, paired,
  with the same user bootstrap;
* :func:`gee_slope` — a **logistic GEE** of correctness on k, clustered by user
  (``statsmodels``), weighted by :func:`user_weights`, reported as the **average marginal
  effect** of one more preference in accuracy points with its delta-method CI. The working
  correlation is *independence*: the estimate is the weighted logistic regression and the
  interval the cluster-robust (sandwich) one over users. (Row weights and an exchangeable
  working correlation do not combine soundly: statsmodels' weighted exchangeable fit gives
  a non-zero slope in a two-user design where nothing depends on k.) The
  default judge's own slope is the check on composition (it learns nothing from k, so any
  slope it shows comes from which users remain at large k). A slope that is 0 by
  construction (every user's judgments the same at every k, and every user at every k:
  the default judge in a balanced design) is reported as exactly 0 with the note
  :data:`ZERO_BY_DESIGN`, without fitting (the fit would only show a degenerate
  interval and a numerical warning);
* :func:`first_k_above` — the smallest k at which a method's CI lies entirely above the
  default judge's (the brief's criterion; conservative), and :func:`first_k_difference_above`
  — the smallest k at which the paired difference's CI lies above zero.
"""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona_judge.analyses.common import (
    SpendLog,
    fit_cells,
    method_config,
    save_study,
    smoke_limited,
)
from persona_judge.baselines.memory import NAME as MEMORY
from persona_judge.baselines.memory import memory_request
from persona_judge.data.records import UserSplit
from persona_judge.errors import SettingsError
from persona_judge.evaluation.stats import DEFAULT_RESAMPLES, bootstrap_ci
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.judge import ORDERS, correct_letter, derive_seed, judge_request
from persona_judge.method.synthesizeme import SynthesizeMeConfig

SYNTHESIZEME = "SynthesizeMe (persona + demos)"
DEFAULT = "default judge"
METHODS = (SYNTHESIZEME, MEMORY, DEFAULT)
#: The paper's slope: accuracy points per additional context preference (SynthesizeMe).
PAPER_SLOPE = 0.8
#: The paper's claim about small k: this many preferences already beat the baselines.
PAPER_FIRST_K = 5
#: The note of the default judge's slope when it is exactly 0 by construction
#: (:func:`gee_slope`), and of any other method's whose judgments do not change with k.
ZERO_BY_DESIGN = "0 by design"
ZERO_EXACTLY = "0 exactly"

#: The chapter's parameters that shape the design, with the chapter's defaults.
DESIGN_DEFAULTS: dict[str, Any] = {
    "dataset": "chatbot_arena", "max_users": 40, "k_grid": [1, 2, 3, 4, 5, 6, 8, 10, 12, 15],
    "seeds_per_k": 3, "memory": True, "min_preferences": 1}


# -- design ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalingDesign:
    """Which subset sizes, how many draws per size, and whether Memory runs beside."""

    k_grid: tuple[int, ...] = tuple(DESIGN_DEFAULTS["k_grid"])
    seeds_per_k: int = 3
    seed: int = 0
    memory: bool = True

    def __post_init__(self) -> None:
        grid = tuple(self.k_grid)
        if not grid or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in grid):
            raise SettingsError(f"setting k_grid must be a non-empty list of whole numbers "
                                f">= 1, got {list(self.k_grid)!r}")
        object.__setattr__(self, "k_grid", tuple(sorted(set(grid))))
        if isinstance(self.seeds_per_k, bool) or not isinstance(self.seeds_per_k, int) \
                or self.seeds_per_k < 1:
            raise SettingsError(f"setting seeds_per_k must be a whole number >= 1, got "
                                f"{self.seeds_per_k!r}")


def split_sizes(k: int, n_train: int, n_val: int) -> tuple[int, int]:
    """(training, validation) pairs in a subset of size ``k`` of a pool of n_train + n_val.

    Keeps the pool's proportions: ``k_val = floor(k · n_val / n)``, the rest training, so a
    subset always has a training pair and both counts grow with k (the draws nest).
    """
    n = n_train + n_val
    if n_train < 1:
        raise ValueError(f"a pool needs at least one training pair (got {n_train} train, "
                         f"{n_val} val)")
    if not 1 <= k <= n:
        raise ValueError(f"subset size k={k} must be between 1 and the pool size {n}")
    k_val = (k * n_val) // n
    return k - k_val, k_val


def _shuffled(ids: list[str], *parts: object) -> list[str]:
    out = list(ids)
    random.Random(derive_seed(*parts)).shuffle(out)
    return out


def nested_subset(user: UserSplit, k: int, draw: int, seed: int = 0) -> UserSplit:
    """The user's subset of size ``k`` in draw ``draw``: nested in k, original order kept."""
    k_train, k_val = split_sizes(k, len(user.train), len(user.val))
    train_order = _shuffled([p.pair_id for p in user.train], seed, "scaling", user.user_id,
                            draw, "train")
    val_order = _shuffled([p.pair_id for p in user.val], seed, "scaling", user.user_id,
                          draw, "val")
    keep = set(train_order[:k_train]) | set(val_order[:k_val])
    return UserSplit(user.user_id, tuple(p for p in user.train if p.pair_id in keep),
                     tuple(p for p in user.val if p.pair_id in keep), user.test)


@dataclass(frozen=True)
class ScalingCell:
    """One fit of the design: a user's subset of size ``k`` (the first of ``draws``)."""

    user_id: str
    k: int
    draw: int
    draws: tuple[int, ...]
    split: UserSplit = field(repr=False)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.user_id, self.k, self.draw)

    @property
    def name(self) -> str:
        return f"{self.user_id} k={self.k} draw={self.draw}"


def pool_size(user: UserSplit) -> int:
    return len(user.train) + len(user.val)


def scaling_cells(users: Sequence[UserSplit], design: ScalingDesign) -> list[ScalingCell]:
    """Every (user, k, distinct subset) of the design, users in input order, k ascending."""
    cells = []
    for user in users:
        if not user.train:
            continue  # cannot be fitted; the chapter lists such users
        for k in design.k_grid:
            if k > pool_size(user):
                break
            seen: dict[frozenset[str], list[int]] = {}
            for draw in range(design.seeds_per_k):
                subset = nested_subset(user, k, draw, design.seed)
                ids = frozenset(p.pair_id for p in (*subset.train, *subset.val))
                seen.setdefault(ids, []).append(draw)
            for draws in seen.values():
                cells.append(ScalingCell(user.user_id, k, draws[0], tuple(draws),
                                         nested_subset(user, k, draws[0], design.seed)))
    return cells


def cells_frame(cells: Sequence[ScalingCell]) -> pd.DataFrame:
    """One row per fit: user, k, draw, the draws it stands for, its train/val sizes."""
    return pd.DataFrame([{"user_id": c.user_id, "k": c.k, "draw": c.draw,
                          "draws": " ".join(map(str, c.draws)),
                          "n_train": len(c.split.train), "n_val": len(c.split.val),
                          "n_test": len(c.split.test)} for c in cells],
                        columns=["user_id", "k", "draw", "draws", "n_train", "n_val", "n_test"])


# -- running ---------------------------------------------------------------------------------
@dataclass
class ScalingResults:
    """The fits, every test judgment (one row per method, user, k, draw, pair and order), spend.

    ``judgments`` columns: method, user_id, k, draw, n_draws, pair_id, order, choice,
    correct, failure. ``n_draws`` is how many of the design's draws a row stands for (a fit
    of a subset several draws gave; the default judge stands for all ``seeds_per_k``); the
    statistics weigh by it (:func:`user_weights`). The default judge's rows of a user repeat
    at every k the user reaches (one set of calls).
    """

    cells: pd.DataFrame
    judgments: pd.DataFrame
    spend: pd.DataFrame
    artifacts: dict[tuple[str, int, int], SynthesizeMeArtifact] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        named = [(f"{u}--k{k:03d}--draw{d}".replace("/", "_"), a)
                 for (u, k, d), a in self.artifacts.items()]
        return save_study(folder, {"cells": self.cells, "judgments": self.judgments,
                                   "spend": self.spend}, named)


def _rows(method: str, cell: tuple[str, int, int], jobs: Sequence[tuple[Any, str]],
          judgments: Sequence[Any], n_draws: int) -> list[dict[str, Any]]:
    user_id, k, draw = cell
    return [{"method": method, "user_id": user_id, "k": k, "draw": draw, "n_draws": n_draws,
             "pair_id": pref.pair_id, "order": order, "choice": j.choice,
             "correct": j.choice == correct_letter(order), "failure": j.failure}
            for (pref, order), j in zip(jobs, judgments, strict=True)]


def run_scaling(users: Sequence[UserSplit], client: Any, config: SynthesizeMeConfig,
                design: ScalingDesign, *, max_workers: int = 4) -> ScalingResults:
    """Fit and judge every cell of the design (see the module doc); what chapter 07 runs."""
    cells = scaling_cells(users, design)
    if not cells:
        raise SettingsError(
            f"no user can be fitted at any k of k_grid {list(design.k_grid)}: each needs a "
            f"training pair and at least k train + validation preferences ({len(users)} "
            "user(s) given); lower the k grid, min_preferences, or use more users")
    by_user = {u.user_id: u for u in users}
    log = SpendLog()
    with log.stage("fit SynthesizeMe on every subset", client):
        artifacts = fit_cells({c.key: c.split for c in cells}, client, config,
                              max_workers=max_workers)
    rows: list[dict[str, Any]] = []

    n_draws = {c.key: len(c.draws) for c in cells}

    def judge(method: str, batch: list[tuple[tuple[str, int, int], list, list]]) -> None:
        requests = [r for _, _, reqs in batch for r in reqs]
        with log.stage(f"judge test pairs: {method}", client):
            judgments = client.judge_many(requests, desc=f"judge {method}") if requests else []
        at = 0
        for cell, jobs, reqs in batch:
            rows.extend(_rows(method, cell, jobs, judgments[at: at + len(reqs)],
                              n_draws.get(cell, design.seeds_per_k)
                              if method != DEFAULT else design.seeds_per_k))
            at += len(reqs)

    def jobs_of(user: UserSplit) -> list[tuple[Any, str]]:
        return [(p, o) for p in user.test for o in ORDERS]

    batch = []
    for cell in cells:
        jobs = jobs_of(cell.split)
        batch.append((cell.key, jobs, [artifacts[cell.key].judge_request(p, o)
                                       for p, o in jobs]))
    judge(SYNTHESIZEME, batch)
    if design.memory:
        batch = []
        for cell in cells:
            jobs = jobs_of(cell.split)
            seen = (*cell.split.train, *cell.split.val)
            batch.append((cell.key, jobs, [memory_request(p, o, seen)
                                           for p, o in jobs]))
        judge(MEMORY, batch)
    reached: dict[str, list[int]] = {}
    for cell in cells:
        if cell.k not in reached.setdefault(cell.user_id, []):
            reached[cell.user_id].append(cell.k)
    batch = []
    for user_id, ks in reached.items():
        jobs = jobs_of(by_user[user_id])
        batch.append(((user_id, ks[0], 0), jobs,
                      [judge_request(p, o, step="test", default_template=config.judge_default)
                       for p, o in jobs]))
    judge(DEFAULT, batch)
    # The default judge sees no preference: repeat its judgments at every k the user reaches.
    default_rows = [r for r in rows if r["method"] == DEFAULT]
    rows = [r for r in rows if r["method"] != DEFAULT]
    for r in default_rows:
        rows.extend({**r, "k": k} for k in reached[r["user_id"]])
    judgments = pd.DataFrame(rows, columns=["method", "user_id", "k", "draw", "n_draws",
                                            "pair_id", "order", "choice", "correct",
                                            "failure"])
    return ScalingResults(cells_frame(cells), judgments, log.table(), artifacts)


# -- statistics ------------------------------------------------------------------------------
def user_weights(frame: pd.DataFrame) -> np.ndarray:
    """Each row's weight: every (method, user, k) sums to one, rows within it weigh by
    ``n_draws`` (the draws their fit stands for; 1 where the column is absent).

    So every user counts the same at every k, whatever their number of test pairs, of
    distinct subsets, or (for the default judge) of fits: a weighted mean over one
    (method, k) is the mean of the users' accuracies.
    """
    draws = (frame["n_draws"].astype(float) if "n_draws" in frame
             else pd.Series(1.0, index=frame.index))
    keys = [frame["method"].astype(str), frame["user_id"].astype(str), frame["k"]]
    return (draws / draws.groupby(keys).transform("sum")).to_numpy(dtype=float)


def _per_user(values: np.ndarray, weights: np.ndarray, users: pd.Series) -> pd.Series:
    """Each user's weighted mean of ``values`` (weights sum to one per user)."""
    return pd.Series(values * weights, index=users.to_numpy()).groupby(level=0,
                                                                        sort=False).sum()


def accuracy_by_k(frame: pd.DataFrame, *, confidence: float = 0.95,
                  n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Accuracy (%) per method and k: the mean of the users' accuracies (each user weighs
    the same, :func:`user_weights`), with a bootstrap CI resampling users."""
    frame = frame.assign(_w=user_weights(frame))
    out = []
    for (method, k), group in frame.groupby(["method", "k"], sort=True):
        per_user = _per_user(group["correct"].to_numpy(dtype=float), group["_w"].to_numpy(),
                             group["user_id"].astype(str))
        low, high = bootstrap_ci(per_user.to_numpy(), confidence=confidence,
                                 n_resamples=n_resamples, seed=seed)
        out.append({"method": method, "k": int(k), "n_users": len(per_user),
                    "n_judgments": len(group), "accuracy": 100 * per_user.mean(),
                    "ci_low": 100 * low, "ci_high": 100 * high})
    return pd.DataFrame(out, columns=["method", "k", "n_users", "n_judgments", "accuracy",
                                      "ci_low", "ci_high"])


def difference_by_k(frame: pd.DataFrame, method: str, reference: str = DEFAULT, *,
                    confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> pd.DataFrame:
    """``method`` minus ``reference`` per k, in points, on the same (user, pair, order).

    Each of the method's judgments (every draw) is paired with the reference's judgment of
    the same pair in the same order; each user's difference is weighted by the method's
    :func:`user_weights` and users count the same; the CI resamples users.
    """
    keys = ["user_id", "k", "pair_id", "order"]
    ref = frame[frame["method"] == reference]
    if ref.duplicated(keys).any():
        raise ValueError(f"{reference!r} must have one judgment per user, k, pair and order")
    mine = frame[frame["method"] == method]
    both = mine.assign(_w=user_weights(mine)).merge(
        ref[[*keys, "correct"]], on=keys, how="inner", suffixes=("", "_ref"))
    # rows the reference lacks are dropped: renormalise each user's weights
    both["_w"] = both["_w"] / both.groupby(["user_id", "k"])["_w"].transform("sum")
    out = []
    for k, group in both.groupby("k", sort=True):
        diff = group["correct"].to_numpy(dtype=float) - group["correct_ref"].to_numpy(float)
        per_user = _per_user(diff, group["_w"].to_numpy(), group["user_id"].astype(str))
        low, high = bootstrap_ci(per_user.to_numpy(), confidence=confidence,
                                 n_resamples=n_resamples, seed=seed)
        out.append({"k": int(k), "n_users": len(per_user),
                    "difference": 100 * per_user.mean(), "ci_low": 100 * low,
                    "ci_high": 100 * high})
    return pd.DataFrame(out, columns=["k", "n_users", "difference", "ci_low", "ci_high"])


@dataclass(frozen=True)
class SlopeEstimate:
    """Accuracy points per additional preference (average marginal effect of k), with its CI.

    ``coef`` / ``coef_se`` are the GEE's log-odds slope and its robust standard error.
    ``note`` says why the slope is missing (NaN) or what statsmodels warned about.
    """

    slope: float
    low: float
    high: float
    pvalue: float
    coef: float
    coef_se: float
    n_users: int
    n_judgments: int
    note: str = ""


def _gee_data(frame: pd.DataFrame) -> pd.DataFrame:
    weights = user_weights(frame)
    return pd.DataFrame({"correct": frame["correct"].astype(float).to_numpy(),
                         "k": frame["k"].astype(float).to_numpy(),
                         "user_id": frame["user_id"].astype(str).to_numpy(),
                         # mean 1: equal weights give exactly the unweighted fit
                         "weight": weights * len(weights) / weights.sum()})


def _fit_gee(data: pd.DataFrame) -> Any:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    return smf.gee("correct ~ k", groups="user_id", data=data, family=sm.families.Binomial(),
                   cov_struct=sm.cov_struct.Independence(), weights=data["weight"]).fit()


def zero_by_design(frame: pd.DataFrame) -> bool:
    """True when the slope on k is exactly 0 by construction: every user reaches every k of
    ``frame`` and has the very same weighted judgments at each (for every pair and order,
    the same weight and the same weighted share correct).

    The default judge in a balanced design is the case: it is judged once per user and its
    judgments stand at every k. Then the weighted fit's slope equation is the intercept's
    times the mean k, so the fitted slope is exactly 0.
    """
    if not {"pair_id", "order"} <= set(frame.columns) or frame["k"].nunique() < 2:
        return False
    ks = set(frame["k"])
    data = frame.assign(_w=user_weights(frame),
                        _wy=lambda f: f["_w"] * f["correct"].astype(float))
    cells = data.groupby(["user_id", "k", "pair_id", "order"])[["_w", "_wy"]].sum().round(12)
    for _, group in cells.groupby(level="user_id", sort=False):
        by_k = {k: part.droplevel(["user_id", "k"]).sort_index()
                for k, part in group.groupby(level="k")}
        if set(by_k) != ks:
            return False
        first = next(iter(by_k.values()))
        if any(not part.equals(first) for part in by_k.values()):
            return False
    return True


def gee_slope(frame: pd.DataFrame, *, confidence: float = 0.95) -> SlopeEstimate:
    """Logistic GEE of ``correct`` on ``k``, clustered by ``user_id`` (independence working
    correlation, robust interval), weighted so that every user counts the same at every k
    (:func:`user_weights`).

    Returns the average marginal effect of one more preference, in accuracy points, with
    its delta-method CI (statsmodels ``get_margeff``). Rows should come from one method.
    A slope that is 0 by construction (:func:`zero_by_design`) is returned as 0 with
    p = 1, no interval and the note :data:`ZERO_BY_DESIGN`, without fitting.
    """
    data = _gee_data(frame)
    n_users, n = data["user_id"].nunique(), len(data)
    nan = float("nan")
    why = ""
    if data["k"].nunique() < 2:
        why = "only one k: no slope to estimate"
    elif data["correct"].nunique() < 2:
        why = "every judgment has the same outcome: the logistic slope is not identified"
    elif n_users < 2:
        why = "one user: clustering by user needs at least two"
    if why:
        return SlopeEstimate(nan, nan, nan, nan, nan, nan, n_users, n, why)
    if zero_by_design(frame):
        default = "method" in frame and set(frame["method"]) == {DEFAULT}
        return SlopeEstimate(0.0, nan, nan, 1.0, 0.0, nan, n_users, n,
                             f"{ZERO_BY_DESIGN if default else ZERO_EXACTLY}: every user has "
                             "the same judgments at every k")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = _fit_gee(data)
        margins = fitted.get_margeff(at="overall", method="dydx")
    alpha = 1 - confidence
    low, high = margins.conf_int(alpha=alpha)[0]
    note = "; ".join(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
    return SlopeEstimate(100 * float(margins.margeff[0]), 100 * float(low), 100 * float(high),
                         float(margins.pvalues[0]), float(fitted.params["k"]),
                         float(fitted.bse["k"]), n_users, n, note)


def slope_text(slope: float, low: float, high: float, note: str = "") -> str:
    """A slope for the chapter's table: ``+0.8 [+0.2, +1.4]``, ``0 by design``, ``0 exactly
    (no judgment changes with k)``, or ``– (why)`` when there is none."""
    from persona_judge.analyses.common import signed_ci

    if note.startswith(ZERO_BY_DESIGN):
        return ZERO_BY_DESIGN
    if note.startswith(ZERO_EXACTLY):
        return f"{ZERO_EXACTLY} (no judgment changes with k)"
    if slope != slope:
        return f"– ({note})" if note else "–"
    return signed_ci(slope, low, high)


def slope_table(frame: pd.DataFrame, methods: Sequence[str] = METHODS, *,
                confidence: float = 0.95) -> pd.DataFrame:
    """One row per method: slope (points per preference) with CI, p, and the paper's slope."""
    rows = []
    for method in methods:
        group = frame[frame["method"] == method]
        if group.empty:
            continue
        est = gee_slope(group, confidence=confidence)
        rows.append({"method": method, "slope": est.slope, "ci_low": est.low,
                     "ci_high": est.high, "p": est.pvalue, "log-odds slope": est.coef,
                     "robust SE": est.coef_se, "n_users": est.n_users,
                     "n_judgments": est.n_judgments,
                     "paper": PAPER_SLOPE if method == SYNTHESIZEME else None,
                     "note": est.note})
    return pd.DataFrame(rows)


def first_k_above(by_k: pd.DataFrame, method: str = SYNTHESIZEME,
                  reference: str = DEFAULT) -> int | None:
    """The smallest k at which ``method``'s CI lies entirely above ``reference``'s, or None."""
    a = by_k[by_k["method"] == method].set_index("k")
    b = by_k[by_k["method"] == reference].set_index("k")
    for k in sorted(set(a.index) & set(b.index)):
        low, high = a.at[k, "ci_low"], b.at[k, "ci_high"]
        if not (math.isnan(low) or math.isnan(high)) and low > high:
            return int(k)
    return None


def first_k_difference_above(diff: pd.DataFrame) -> int | None:
    """The smallest k at which the paired difference's CI lies above zero, or None."""
    for row in diff.sort_values("k").itertuples():
        if not math.isnan(row.ci_low) and row.ci_low > 0:
            return int(row.k)
    return None


def by_k_wide(by_k: pd.DataFrame, methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """One row per k: users, and each method's accuracy as a number with its CI bounds."""
    out = None
    for method in methods:
        part = by_k[by_k["method"] == method][["k", "n_users", "accuracy", "ci_low",
                                               "ci_high"]]
        if part.empty:
            continue
        part = part.rename(columns={c: f"{method}|{c}" for c in
                                    ("accuracy", "ci_low", "ci_high", "n_users")})
        out = part if out is None else out.merge(part, on="k", how="outer")
    return out if out is not None else pd.DataFrame()


def fitted_curve(frame: pd.DataFrame, ks: Sequence[float]) -> np.ndarray:
    """The GEE's population-average accuracy (%) at each k (for drawing the fitted line);
    the same weighted fit as :func:`gee_slope`."""
    if zero_by_design(frame):
        flat = 100 * float(np.average(frame["correct"].astype(float),
                                      weights=user_weights(frame)))
        return np.full(len(ks), flat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = _fit_gee(_gee_data(frame))
    eta = fitted.params["Intercept"] + fitted.params["k"] * np.asarray(ks, dtype=float)
    return 100 / (1 + np.exp(-eta))


# -- the chapter's settings and its estimate ---------------------------------------------------
def design_from_settings(settings: Mapping[str, Any]) -> ScalingDesign:
    """The design a chapter's settings ask for (smoke runs: ``smoke_design`` applied)."""
    s = {**DESIGN_DEFAULTS, **smoke_limited(settings)}
    return ScalingDesign(k_grid=tuple(s["k_grid"]), seeds_per_k=s["seeds_per_k"],
                         seed=int(s.get("seed", 0)), memory=bool(s["memory"]))


def scaling_users(settings: Mapping[str, Any]) -> tuple[list[UserSplit], str]:
    """The chapter's users, and a sentence on who was left out.

    Users whose pool (train + val) is smaller than ``min_preferences`` are left out first
    (``min_preferences = max(k_grid)`` gives a balanced design: every user at every k);
    then ``max_users`` are drawn at random (seeded) from the rest.
    """
    from persona_judge.study.notebook import load_benchmark_data, sample_users, set_aside_note

    s = {**DESIGN_DEFAULTS, **smoke_limited(settings)}
    minimum = int(s["min_preferences"])
    data = load_benchmark_data(str(s["dataset"]), str(s.get("mode", "real")))
    eligible = [u for u in data.users if pool_size(u) >= minimum]
    users = sample_users(eligible, s["max_users"], int(s.get("seed", 0)))
    notes = [set_aside_note(data)] if set_aside_note(data) else []
    if len(eligible) < len(data.users):
        notes.append(f"{len(data.users) - len(eligible)} of {len(data.users)} users have fewer "
                     f"than {minimum} train + validation preferences and are left out.")
    return users, " ".join(notes)


def estimate_scaling(config: Mapping[str, Any], client: Any) -> pd.DataFrame:
    """Dry-run chapter 07 with ``client`` (``dry_run=True``): calls, tokens, dollars per stage.

    ``config`` holds the chapter's settings as the runner passes them (study-wide settings,
    the chapter's ``parameters``, overrides); missing ones take the chapter's defaults. It
    loads the same users and runs :func:`run_scaling` exactly as the chapter does, so the
    estimate counts the chapter's own calls (cached answers are free).
    """
    settings = {**DESIGN_DEFAULTS, **smoke_limited(config)}
    users, _ = scaling_users(settings)
    # one fit at a time, so calls vs cache hits do not depend on thread timing (see
    # transfer.estimate_transfer)
    result = run_scaling(users, client, method_config(settings), design_from_settings(settings),
                         max_workers=1)
    return result.spend
