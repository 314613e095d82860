"""Tables of results: per-user and pooled accuracy with CIs, and paired method comparisons.

All functions take the judgment table from ``predict.records_frame`` (one row
per method × test pair × order) and return small DataFrames with accuracies in
**percent**, to sit beside the paper's numbers (:func:`beside_paper`, read from the one
data file of :mod:`persona_judge.evaluation.paper`).

``unit`` is what the bootstrap resamples:

* ``"pair"`` (default): a test pair with both its orders — the two judgments of
  one pair are not independent, so they stay together;
* ``"user"``: whole users (for pooled accuracy: the CI then reflects which
  users happened to be sampled, the widest and most honest for a claim about
  users in general);
* ``"judgment"``: every judgment on its own (the plain bootstrap; narrowest).

Per-user CIs cannot resample users, so ``"user"`` falls back to ``"pair"`` there.
:func:`accuracy_table` shows all three side by side with the per-user macro mean;
:func:`comparisons_table` tests method differences on per-pair and per-user
outcomes with Holm's adjustment. Seeds are fixed per call, so tables are
reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from persona_judge.evaluation.stats import (
    DEFAULT_RESAMPLES,
    accuracy_ci,
    bootstrap_ci,
    holm,
    paired_bootstrap_difference,
    paired_permutation_test,
    unit_means,
)

Unit = Literal["pair", "user", "judgment"]
UNITS = ("pair", "user", "judgment")

def cluster_ids(frame: pd.DataFrame, unit: Unit) -> list[str] | None:
    """The bootstrap cluster of each row for ``unit`` (None = each judgment alone)."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    if unit == "judgment":
        return None
    if unit == "user":
        return frame["user_id"].astype(str).tolist()
    return (frame["user_id"].astype(str) + "\x1f" + frame["pair_id"].astype(str)).tolist()


def per_user_accuracy(frame: pd.DataFrame, *, unit: Unit = "pair", confidence: float = 0.95,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per method and user: judgments, accuracy and CI (percent)."""
    unit = "pair" if unit == "user" else unit
    rows = []
    for (method, user), group in frame.groupby(["method", "user_id"], sort=False):
        ci = accuracy_ci(group["correct"].to_numpy(), clusters=cluster_ids(group, unit),
                         confidence=confidence, n_resamples=n_resamples, seed=seed)
        rows.append({"method": method, "user_id": user, "n_judgments": ci.n_judgments,
                     "accuracy": 100 * ci.accuracy, "ci_low": 100 * ci.low,
                     "ci_high": 100 * ci.high})
    return pd.DataFrame(rows, columns=["method", "user_id", "n_judgments", "accuracy",
                                       "ci_low", "ci_high"])


def pooled_accuracy(frame: pd.DataFrame, *, unit: Unit = "pair", confidence: float = 0.95,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per method: accuracy over all judgments of all users, with its CI (percent)."""
    rows = []
    for method, group in frame.groupby("method", sort=False):
        ci = accuracy_ci(group["correct"].to_numpy(), clusters=cluster_ids(group, unit),
                         confidence=confidence, n_resamples=n_resamples, seed=seed)
        rows.append({"method": method, "n_users": group["user_id"].nunique(),
                     "n_judgments": ci.n_judgments, "accuracy": 100 * ci.accuracy,
                     "ci_low": 100 * ci.low, "ci_high": 100 * ci.high, "ci_unit": unit})
    return pd.DataFrame(rows, columns=["method", "n_users", "n_judgments", "accuracy", "ci_low",
                                       "ci_high", "ci_unit"])


def accuracy_table(frame: pd.DataFrame, *, confidence: float = 0.95,
                   n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per method: accuracy with three CIs side by side, and the per-user macro mean.

    * ``judgment`` CI: every judgment resampled on its own (the paper's unit);
    * ``pair`` CI: test pairs resampled with both their orders;
    * ``user`` CI: whole users resampled (cluster bootstrap; NaN with a single user);
    * ``macro``: the mean of per-user accuracies, each user counting once, with a
      bootstrap CI over users.
    """
    rows = []
    for method, group in frame.groupby("method", sort=False):
        correct = group["correct"].to_numpy(dtype=float)
        row: dict[str, object] = {"method": method, "n_users": group["user_id"].nunique(),
                                  "n_pairs": len(set(cluster_ids(group, "pair") or [])),
                                  "n_judgments": len(group), "accuracy": 100 * correct.mean()}
        for unit in ("judgment", "pair", "user"):
            low, high = bootstrap_ci(correct, clusters=cluster_ids(group, unit),
                                     confidence=confidence, n_resamples=n_resamples, seed=seed)
            row[f"{unit} CI low"], row[f"{unit} CI high"] = 100 * low, 100 * high
        per_user = unit_means(correct, group["user_id"].astype(str).tolist())
        low, high = bootstrap_ci(per_user, confidence=confidence, n_resamples=n_resamples,
                                 seed=seed)
        row.update({"macro (per-user mean)": 100 * per_user.mean(), "macro CI low": 100 * low,
                    "macro CI high": 100 * high})
        rows.append(row)
    return pd.DataFrame(rows)


def paired_judgments(frame: pd.DataFrame, method_a: str, method_b: str) -> pd.DataFrame:
    """Rows (user, pair, order) judged by both methods, with ``correct_a`` / ``correct_b``."""
    keys = ["user_id", "pair_id", "order"]
    a = frame[frame["method"] == method_a].set_index(keys)["correct"]
    b = frame[frame["method"] == method_b].set_index(keys)["correct"]
    if a.empty or b.empty:
        missing = method_a if a.empty else method_b
        raise ValueError(f"No judgments for method {missing!r}; methods present: "
                         f"{sorted(frame['method'].unique())}.")
    both = pd.concat({"correct_a": a, "correct_b": b}, axis=1, join="inner").reset_index()
    if len(both) != len(a) or len(both) != len(b):
        raise ValueError(f"{method_a!r} and {method_b!r} were not evaluated on the same "
                         f"judgments ({len(a)} vs {len(b)}, {len(both)} shared); evaluate both "
                         "on the same users and test pairs.")
    return both


def compare_methods(frame: pd.DataFrame, method_a: str, method_b: str, *, unit: Unit = "pair",
                    confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> dict[str, float | int | str]:
    """Method A vs B on the same judgments, paired.

    The difference in accuracy gets a paired bootstrap CI resampling ``unit``; the
    sign-flip permutation test is run on per-pair differences (each pair's two orders
    averaged) and on per-user differences. Neither treats the two orders as independent.
    """
    both = paired_judgments(frame, method_a, method_b)
    a, b = both["correct_a"].to_numpy(dtype=float), both["correct_b"].to_numpy(dtype=float)
    diff = paired_bootstrap_difference(a, b, clusters=cluster_ids(both, unit),
                                       confidence=confidence, n_resamples=n_resamples,
                                       seed=seed)
    out: dict[str, float | int | str] = {
        "method_a": method_a, "method_b": method_b, "n_judgments": diff.n_judgments,
        "difference": 100 * diff.difference, "ci_low": 100 * diff.low,
        "ci_high": 100 * diff.high, "ci_unit": unit}
    for test_unit in ("pair", "user"):
        per_unit = unit_means(a - b, cluster_ids(both, test_unit) or [])
        test = paired_permutation_test(per_unit, n_resamples=n_resamples, seed=seed)
        out[f"{test_unit}s differing"] = test.n_nonzero
        out[f"{test_unit}s"] = test.n_units
        out[f"p ({test_unit})"] = test.pvalue
    return out


def comparisons_table(frame: pd.DataFrame, comparisons: Sequence[tuple[str, str]], *,
                      unit: Unit = "pair", confidence: float = 0.95,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Several paired comparisons, with Holm-adjusted p-values over the family shown."""
    table = pd.DataFrame([compare_methods(frame, a, b, unit=unit, confidence=confidence,
                                          n_resamples=n_resamples, seed=seed)
                          for a, b in comparisons])
    for test_unit in ("pair", "user"):
        table[f"p ({test_unit}, Holm)"] = holm(table[f"p ({test_unit})"].tolist())
    return table


def beside_paper(pooled: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    """The pooled table (one row per method, with ``ci_low`` / ``ci_high``) with the paper.

    Adds ``paper`` (the paper's accuracy for this dataset, judge and method, from
    ``paper_numbers.csv``; NaN where the paper has no such number), ``delta`` (ours minus
    the paper's) and ``paper inside CI`` (True / False; None without a paper number or
    without an interval). A judge the file does not know gets no paper numbers at all.
    """
    from persona_judge.evaluation.paper import paper_accuracy

    published = paper_accuracy(dataset, model)
    out = pooled.copy()
    out["paper"] = [published.get(m, float("nan")) for m in out["method"]]
    out["delta"] = out["accuracy"] - out["paper"]
    out["paper inside CI"] = [
        None if pd.isna(p) or pd.isna(lo) or pd.isna(hi) else bool(lo <= p <= hi)
        for p, lo, hi in zip(out["paper"], out["ci_low"], out["ci_high"], strict=True)]
    return out


def judge_agreement(frame: pd.DataFrame, method_a: str, method_b: str, *,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, float]:
    """How often two judges pick the same reply on the same judgments (per judgment, per pair).

    A judgment *agrees* when both picked the same reply (a judgment without a verdict --
    tie, unparseable, failed, missing -- agrees with nothing). ``judgment agreement`` is
    the share of agreeing judgments, with a bootstrap CI over pairs; ``pair agreement``
    the share of pairs whose both orders agree; also the accuracy of each on the same rows.
    """
    both = paired_judgments(frame, method_a, method_b)
    keys = ["user_id", "pair_id", "order"]
    choice = frame.set_index(["method", *keys])["choice"]
    a = choice.loc[method_a].reindex(pd.MultiIndex.from_frame(both[keys])).to_numpy()
    b = choice.loc[method_b].reindex(pd.MultiIndex.from_frame(both[keys])).to_numpy()
    agree = pd.Series([x is not None and not pd.isna(x) and x == y for x, y in zip(a, b,
                                                                                  strict=True)],
                      dtype=float)
    clusters = cluster_ids(both, "pair")
    ci = accuracy_ci(agree.to_numpy(), clusters=clusters, n_resamples=n_resamples, seed=seed)
    per_pair = unit_means(agree.to_numpy(), clusters or [])
    return {"judgments": len(both), "pairs": len(per_pair),
            "judgment agreement": 100 * ci.accuracy, "ci_low": 100 * ci.low,
            "ci_high": 100 * ci.high, "pair agreement": 100 * float((per_pair == 1).mean()),
            f"accuracy {method_a}": 100 * float(both["correct_a"].mean()),
            f"accuracy {method_b}": 100 * float(both["correct_b"].mean())}
