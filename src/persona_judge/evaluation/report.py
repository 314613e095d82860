"""Tables of results: per-user and pooled accuracy with CIs, and paired method comparisons.

All functions take the judgment table from ``predict.records_frame`` (one row
per method × test pair × order) and return small DataFrames with accuracies in
**percent**, to sit beside the paper's numbers (:func:`beside_paper`, read from the one
data file of :mod:`persona_judge.evaluation.paper`).

``unit`` is what the bootstrap resamples:

* ``"user"`` (default for pooled accuracy and differences): whole users. The study's
  claims are about users, and users differ in how predictable they are, so only this
  interval covers the population accuracy at its nominal rate (in simulation a
  pair-level 95% interval covered it 69–78% of the time when users differ; the
  user-level one about 95%: ``tests/evaluation/test_user_level_coverage.py``);
* ``"pair"``: a test pair with both its orders — the two judgments of one pair are not
  independent, so they stay together; it ignores that one user's pairs share a taste;
* ``"judgment"``: every judgment on its own (the plain bootstrap; narrowest).

Per-user CIs cannot resample users, so ``"user"`` falls back to ``"pair"`` there.
:func:`accuracy_table` shows all three side by side with the per-user macro mean;
:func:`comparisons_table` tests method differences on per-user outcomes (the unit of the
difference's interval) and per-pair outcomes, with Holm's adjustment. A comparison with a
single user (or pair) is "not testable (1 unit)": its p-value is NaN, its note says so,
and Holm's family leaves it out. Seeds are fixed per call, so tables are reproducible.
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
    unit_sums,
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


def pooled_accuracy(frame: pd.DataFrame, *, unit: Unit = "user", confidence: float = 0.95,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per method: accuracy over all judgments of all users, with its CI (percent).

    The CI resamples ``unit`` (default whole users; NaN with a single user); ``ci_unit``
    says which.
    """
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


def compare_methods(frame: pd.DataFrame, method_a: str, method_b: str, *, unit: Unit = "user",
                    confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0) -> dict[str, float | int | str]:
    """Method A vs B on the same judgments, paired.

    ``difference`` is pooled accuracy(A) − accuracy(B), with a paired bootstrap CI
    resampling ``unit`` (default whole users; ``ci_unit``). The sign-flip permutation test
    is run per user and per pair, on each unit's **summed** difference in correct
    judgments, so that its statistic is the very difference shown (a user with more
    judgments weighs more, as in the pooled accuracy); per pair the two orders are summed,
    never counted as independent evidence. ``p (user)`` is the test on the interval's unit
    when ``unit="user"``. A single unit is not testable: p is NaN and ``user test`` /
    ``pair test`` says ``"not testable (1 unit)"``.
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
        units = cluster_ids(both, test_unit) or []
        per_unit = unit_sums(a - b, units)
        test = paired_permutation_test(per_unit, n_resamples=n_resamples, seed=seed)
        out[f"{test_unit}s differing"] = test.n_nonzero
        out[f"{test_unit}s"] = test.n_units
        out[f"p ({test_unit})"] = test.pvalue
        out[f"{test_unit} test"] = test.note
    return out


def comparisons_table(frame: pd.DataFrame, comparisons: Sequence[tuple[str, str]], *,
                      unit: Unit = "user", confidence: float = 0.95,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Several paired comparisons, with Holm-adjusted p-values over the family shown.

    Comparisons that cannot be tested (a single unit) keep p = NaN and their note, and do
    not count in Holm's family.
    """
    table = pd.DataFrame([compare_methods(frame, a, b, unit=unit, confidence=confidence,
                                          n_resamples=n_resamples, seed=seed)
                          for a, b in comparisons])
    for test_unit in ("pair", "user"):
        table[f"p ({test_unit}, Holm)"] = holm(table[f"p ({test_unit})"].tolist())
    return table


def p_text(pvalue: float, note: str = "") -> str:
    """A p-value for a table, or the reason there is none (``"not testable (1 unit)"``)."""
    from persona_judge.study.display import p_value

    if note:
        return note
    return p_value(pvalue)


def difference_text(difference: float, low: float, high: float) -> str:
    """``+5.6 [−2.0, +13.1]`` (a difference in points with its interval; no interval: the
    difference alone)."""
    from persona_judge.study.display import signed

    if pd.isna(low) or pd.isna(high):
        return signed(difference)
    return f"{signed(difference)} [{signed(low)}, {signed(high)}]"


def comparisons_view(tests: pd.DataFrame, keep: Sequence[str] = ()) -> pd.DataFrame:
    """A :func:`comparisons_table` as a reader reads it: which two methods, the difference
    with its interval (over the unit the table resampled), the per-user sign-flip test
    unadjusted and Holm-adjusted, how many users differ, and the per-pair test (Holm) for
    reference. ``keep`` names columns shown first, as they are (the judge, the dataset)."""
    unit = tests["ci_unit"].iloc[0] if "ci_unit" in tests and len(tests) else "user"
    difference = f"Δ [95% CI over {unit}s]"
    rows = [{**{column: row[column] for column in keep},
             "comparison": f"{row['method_a']} − {row['method_b']}",
             difference: difference_text(row["difference"], row["ci_low"], row["ci_high"]),
             "p (users)": p_text(row["p (user)"], row["user test"]),
             "p (users, Holm)": p_text(row["p (user, Holm)"], row["user test"]),
             "users differing": f"{row['users differing']} of {row['users']}",
             "p (pairs, Holm)": p_text(row["p (pair, Holm)"], row["pair test"])}
            for row in tests.to_dict("records")]
    return pd.DataFrame(rows, columns=[*keep, "comparison", difference, "p (users)",
                                       "p (users, Holm)", "users differing", "p (pairs, Holm)"])


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
