"""The statistics against scipy, statsmodels and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar

from persona_judge.evaluation.report import (
    compare_methods,
    paired_judgments,
    per_user_accuracy,
    pooled_accuracy,
)
from persona_judge.evaluation.stats import (
    accuracy_ci,
    bootstrap_ci,
    mcnemar_test,
    paired_bootstrap_difference,
)

DATA = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1], dtype=float)


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_bootstrap_ci_matches_scipy_percentile(confidence: float) -> None:
    ours = bootstrap_ci(DATA, confidence=confidence, n_resamples=4000, seed=7)
    ref = sps.bootstrap((DATA,), np.mean, confidence_level=confidence, n_resamples=4000,
                        method="percentile", rng=np.random.default_rng(7), vectorized=True)
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high),
                                 abs=1e-12)


def test_bootstrap_ci_close_to_scipy_with_other_draws() -> None:
    ours = bootstrap_ci(DATA, n_resamples=20000, seed=1)
    ref = sps.bootstrap((DATA,), np.mean, n_resamples=20000, method="percentile",
                        rng=np.random.default_rng(99)).confidence_interval
    assert ours == pytest.approx((ref.low, ref.high), abs=0.03)


def test_cluster_bootstrap_resamples_whole_clusters() -> None:
    # every cluster has one right and one wrong judgment: every resample has accuracy 0.5
    values = [1, 0] * 6
    clusters = [i // 2 for i in range(12)]
    assert bootstrap_ci(values, clusters=clusters, n_resamples=500) == (0.5, 0.5)
    # whereas the per-judgment bootstrap varies
    low, high = bootstrap_ci(values, n_resamples=500)
    assert low < 0.5 < high


def test_cluster_bootstrap_matches_a_hand_loop() -> None:
    values = np.array([1, 1, 0, 1, 0, 0, 1])
    clusters = ["a", "a", "b", "c", "c", "c", "d"]
    rng = np.random.default_rng(3)
    groups = [values[:2], values[2:3], values[3:6], values[6:]]
    idx = rng.integers(0, 4, (300, 4))
    means = [np.concatenate([groups[j] for j in row]).mean() for row in idx]
    expected = tuple(np.quantile(means, [0.025, 0.975]))
    assert bootstrap_ci(values, clusters=clusters, n_resamples=300, seed=3) == \
        pytest.approx(expected)


def test_accuracy_ci_fields() -> None:
    ci = accuracy_ci([True, False, True, True], n_resamples=200)
    assert ci.accuracy == 0.75 and ci.n_judgments == 4 and ci.low <= 0.75 <= ci.high
    with pytest.raises(ValueError, match="non-empty"):
        accuracy_ci([])


@pytest.mark.parametrize("a_only,b_only,both,neither", [(3, 9, 10, 5), (0, 0, 4, 4), (12, 30, 50,
                         8), (5, 5, 1, 1), (1, 7, 0, 0)])
@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_matches_statsmodels(a_only: int, b_only: int, both: int, neither: int,
                                     exact: bool) -> None:
    a = [1] * a_only + [0] * b_only + [1] * both + [0] * neither
    b = [0] * a_only + [1] * b_only + [1] * both + [0] * neither
    ours = mcnemar_test(a, b, exact=exact)
    assert (ours.a_only, ours.b_only) == (a_only, b_only)
    if a_only + b_only == 0:
        assert ours.pvalue == 1.0
        return
    ref = mcnemar([[both, a_only], [b_only, neither]], exact=exact, correction=True)
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours.statistic == pytest.approx(ref.statistic)


def test_mcnemar_auto_picks_exact_for_few_discordant() -> None:
    assert mcnemar_test([1, 0, 1], [0, 1, 1]).exact
    assert not mcnemar_test([1] * 30, [0] * 30).exact


def test_paired_difference_hand_value_and_same_draws() -> None:
    a = np.array([1, 1, 1, 0, 1, 0])
    b = np.array([0, 1, 0, 0, 1, 1])
    diff = paired_bootstrap_difference(a, b, n_resamples=1000, seed=2)
    assert diff.difference == pytest.approx(1 / 6)
    assert (diff.low, diff.high) == bootstrap_ci(a - b, n_resamples=1000, seed=2)
    with pytest.raises(ValueError, match="same judgments"):
        paired_bootstrap_difference([1, 0], [1])


def frame() -> pd.DataFrame:
    rows = []
    for method, right in (("m1", {"u1/p1", "u1/p2", "u2/p1"}), ("m2", {"u1/p1"})):
        for user in ("u1", "u2"):
            for p in ("p1", "p2"):
                for order in ("chosen_first", "rejected_first"):
                    pair = f"{user}/{p}"
                    correct = pair in right and not (method == "m1" and pair == "u2/p1"
                                                     and order == "rejected_first")
                    rows.append({"method": method, "user_id": user, "pair_id": pair,
                                 "order": order, "correct": correct})
    return pd.DataFrame(rows)


def test_report_tables_hand_values() -> None:
    f = frame()
    pooled = pooled_accuracy(f, n_resamples=300).set_index("method")
    assert pooled.loc["m1", "accuracy"] == pytest.approx(100 * 5 / 8)
    assert pooled.loc["m2", "accuracy"] == pytest.approx(100 * 2 / 8)
    per_user = per_user_accuracy(f, n_resamples=300).set_index(["method", "user_id"])
    assert per_user.loc[("m1", "u1"), "accuracy"] == 100.0
    assert per_user.loc[("m1", "u2"), "accuracy"] == 25.0
    by_user = pooled_accuracy(f, unit="user", n_resamples=300).set_index("method")
    assert by_user.loc["m1", "ci_low"] == pytest.approx(25.0)  # both resampled users = u2
    assert by_user.loc["m1", "ci_high"] == pytest.approx(100.0)
    cmp = compare_methods(f, "m1", "m2", n_resamples=300)
    assert cmp["difference"] == pytest.approx(100 * 3 / 8)
    assert (cmp["a_only"], cmp["b_only"]) == (3, 0)
    ref = mcnemar([[2, 3], [0, 3]], exact=True)
    assert cmp["mcnemar_p"] == pytest.approx(ref.pvalue)


def test_paired_judgments_refuses_misaligned_methods() -> None:
    f = frame()
    f = f[~((f["method"] == "m2") & (f["user_id"] == "u2"))]
    with pytest.raises(ValueError, match="not evaluated on the same judgments"):
        paired_judgments(f, "m1", "m2")
    with pytest.raises(ValueError, match="No judgments for method 'm3'"):
        paired_judgments(f, "m1", "m3")
