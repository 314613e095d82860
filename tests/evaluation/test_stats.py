"""The statistics against scipy, statsmodels and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from persona_judge.evaluation.report import (
    accuracy_table,
    compare_methods,
    comparisons_table,
    paired_judgments,
    per_user_accuracy,
    pooled_accuracy,
)
from persona_judge.evaluation.stats import (
    accuracy_ci,
    bootstrap_ci,
    holm,
    mcnemar_test,
    paired_bootstrap_difference,
    paired_permutation_test,
    unit_means,
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
    # per pair (orders averaged): differences 0, 1, 0.5, 0 -> 2 discordant pairs; of the
    # 4 sign flips of (1, 0.5), 2 reach |sum| >= 1.5: p = 0.5 (exact)
    assert (cmp["pairs"], cmp["pairs differing"], cmp["p (pair)"]) == (4, 2, 0.5)
    # per user: u1 1 - 0.5 = 0.5, u2 0.25 - 0 = 0.25: p = 2/4
    assert (cmp["users"], cmp["users differing"], cmp["p (user)"]) == (2, 2, 0.5)


def test_paired_judgments_refuses_misaligned_methods() -> None:
    f = frame()
    f = f[~((f["method"] == "m2") & (f["user_id"] == "u2"))]
    with pytest.raises(ValueError, match="not evaluated on the same judgments"):
        paired_judgments(f, "m1", "m2")
    with pytest.raises(ValueError, match="No judgments for method 'm3'"):
        paired_judgments(f, "m1", "m3")


def test_one_cluster_has_no_interval() -> None:
    low, high = bootstrap_ci([1, 0, 1], clusters=["u", "u", "u"], n_resamples=100)
    assert np.isnan(low) and np.isnan(high)
    assert all(np.isnan(v) for v in bootstrap_ci([1], n_resamples=100))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_all_correct_or_all_wrong_gives_a_point_interval(value: float) -> None:
    values = [value] * 12
    for clusters in (None, [i // 2 for i in range(12)], [i // 6 for i in range(12)]):
        assert bootstrap_ci(values, clusters=clusters, n_resamples=200) == (value, value)


def test_paired_permutation_test_hand_value() -> None:
    # 5 non-zero differences, magnitudes 1, .5, 1, .5, 1 (sum 4); |sum| >= 3 when the
    # flipped magnitudes sum to <= .5 or >= 3.5: 6 of the 32 sign patterns
    test = paired_permutation_test([1, 0.5, 1, 0, -0.5, 1])
    assert test.exact and test.n_units == 6 and test.n_nonzero == 5
    assert test.pvalue == pytest.approx(6 / 32) and test.difference == pytest.approx(0.5)


def test_paired_permutation_test_matches_scipy_sampled() -> None:
    d = np.random.default_rng(4).choice([-1, -0.5, 0, 0.5, 1], size=40, p=[.1, .1, .4, .2, .2])
    ours = paired_permutation_test(d, n_resamples=5000, seed=3)
    ref = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=5000,
                               rng=np.random.default_rng(3))
    assert not ours.exact and ours.pvalue == pytest.approx(ref.pvalue)


def test_no_discordant_units_gives_p_one() -> None:
    test = paired_permutation_test([0.0, 0.0, 0.0])
    assert (test.pvalue, test.n_nonzero, test.difference) == (1.0, 0, 0.0)


def test_unit_means_in_first_appearance_order() -> None:
    assert unit_means([1, 0, 1, 1], ["b", "a", "b", "a"]).tolist() == [1.0, 0.5]


def test_holm_hand_value_and_statsmodels() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    p = [0.001, 0.2, 0.03, 0.04, 0.5]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    assert holm([0.6, 0.7]) == [1.0, 1.0] and holm([]) == []


def test_accuracy_table_three_intervals_and_macro_mean() -> None:
    rows = []
    for user, n_pairs, right in (("a", 2, True), ("b", 1, False)):
        for p in range(n_pairs):
            for order in ("chosen_first", "rejected_first"):
                rows.append({"method": "m", "user_id": user, "pair_id": f"{user}-{p}",
                             "order": order, "correct": right})
    table = accuracy_table(pd.DataFrame(rows), n_resamples=500).set_index("method")
    row = table.loc["m"]
    assert (row["n_users"], row["n_pairs"], row["n_judgments"]) == (2, 3, 6)
    assert row["accuracy"] == pytest.approx(100 * 4 / 6)
    assert row["macro (per-user mean)"] == pytest.approx(50.0)  # each user counts once
    # users are all-right or all-wrong: resampling users gives 0, 4/6 ... 100
    assert (row["user CI low"], row["user CI high"]) == (0.0, 100.0)
    assert row["pair CI low"] <= row["judgment CI low"]  # whole pairs vary more
    assert (row["macro CI low"], row["macro CI high"]) == (0.0, 100.0)


def test_accuracy_table_single_user_has_no_user_interval() -> None:
    f = frame()
    one = accuracy_table(f[f["user_id"] == "u1"], n_resamples=200).set_index("method")
    assert np.isnan(one.loc["m1", "user CI low"]) and np.isnan(one.loc["m1", "macro CI high"])
    assert one.loc["m1", "pair CI low"] == 100.0  # u1 got everything right under m1


def test_comparisons_table_adds_holm() -> None:
    f = frame()
    f3 = f[f["method"] == "m2"].assign(method="m3")
    table = comparisons_table(pd.concat([f, f3]), [("m1", "m2"), ("m1", "m3"), ("m2", "m3")],
                              n_resamples=200)
    assert table["p (pair, Holm)"].tolist() == pytest.approx(holm(table["p (pair)"].tolist()))
    assert table.loc[2, "p (user)"] == 1.0 and table.loc[2, "difference"] == 0.0


def test_a_single_unit_is_not_testable_and_says_so() -> None:
    test = paired_permutation_test([0.5])
    assert np.isnan(test.pvalue) and test.note == "not testable (1 unit)"
    assert test.n_units == 1 and test.n_nonzero == 1 and not test.testable
    assert paired_permutation_test([0.0, 0.5]).testable


def test_one_user_comparison_is_not_testable_per_user_through_the_tables() -> None:
    f = frame()
    one = f[f["user_id"] == "u1"]
    cmp = compare_methods(one, "m1", "m2", n_resamples=200)
    assert cmp["users"] == 1 and np.isnan(cmp["p (user)"])
    assert cmp["user test"] == "not testable (1 unit)" and cmp["pair test"] == ""
    assert np.isnan(cmp["ci_low"]) and cmp["ci_unit"] == "user"  # one user: no interval
    f3 = one[one["method"] == "m2"].assign(method="m3")
    table = comparisons_table(pd.concat([one, f3]), [("m1", "m2"), ("m1", "m3")],
                              n_resamples=200)
    assert table["p (user, Holm)"].isna().all()
    assert table["p (pair, Holm)"].tolist() == pytest.approx(holm(table["p (pair)"].tolist()))
    from persona_judge.evaluation.report import p_text
    assert p_text(table.loc[0, "p (user, Holm)"], table.loc[0, "user test"]) == \
        "not testable (1 unit)"
    assert p_text(0.03125, "") == "0.0312"


def test_holm_leaves_untestable_comparisons_out_of_the_family() -> None:
    adjusted = holm([0.01, float("nan"), 0.04])
    assert np.isnan(adjusted[1])
    assert [adjusted[0], adjusted[2]] == pytest.approx(holm([0.01, 0.04]))  # a family of 2


def test_the_difference_interval_resamples_users_and_its_test_is_on_users() -> None:
    # m1 - m2 per judgment: u1 all +1 (4 pairs), u2 all 0, u3..u5 all -1 (1 pair each)
    rows = []
    for user, n_pairs, (a, b) in (("u1", 4, (1, 0)), ("u2", 1, (1, 1)), ("u3", 1, (0, 1)),
                                  ("u4", 1, (0, 1)), ("u5", 1, (0, 1))):
        for p in range(n_pairs):
            for order in ("chosen_first", "rejected_first"):
                for method, ok in (("m1", a), ("m2", b)):
                    rows.append({"method": method, "user_id": user, "pair_id": f"{user}{p}",
                                 "order": order, "correct": bool(ok)})
    f = pd.DataFrame(rows)
    cmp = compare_methods(f, "m1", "m2", n_resamples=500, seed=4)
    assert cmp["ci_unit"] == "user"
    both = paired_judgments(f, "m1", "m2")
    diff = both["correct_a"].to_numpy(float) - both["correct_b"].to_numpy(float)
    low, high = bootstrap_ci(diff, clusters=both["user_id"].tolist(), n_resamples=500, seed=4)
    assert (cmp["ci_low"], cmp["ci_high"]) == pytest.approx((100 * low, 100 * high))
    assert cmp["difference"] == pytest.approx(100 * (8 - 6) / 16)
    # the test is on per-user *summed* differences (+8, 0, -2, -2, -2), so its statistic is
    # the pooled difference shown: every sign flip reaches |sum| >= 2, p = 1. (Per-user
    # means, +1, 0, -1, -1, -1, would give 10 of 16: 0.625.)
    assert (cmp["users"], cmp["users differing"], cmp["p (user)"]) == (5, 4, 1.0)
    pair_level = compare_methods(f, "m1", "m2", unit="pair", n_resamples=500, seed=4)
    assert pair_level["ci_high"] - pair_level["ci_low"] < cmp["ci_high"] - cmp["ci_low"]


def test_pooled_accuracy_resamples_users_by_default() -> None:
    f = frame()
    default = pooled_accuracy(f, n_resamples=300, seed=5)
    by_user = pooled_accuracy(f, unit="user", n_resamples=300, seed=5)
    pd.testing.assert_frame_equal(default, by_user)
    assert set(default["ci_unit"]) == {"user"}


def test_a_comparisons_reader_view_keeps_each_rows_own_numbers() -> None:
    from persona_judge.evaluation.report import comparisons_view

    f = frame()
    f3 = f[f["method"] == "m2"].assign(method="m3")
    table = comparisons_table(pd.concat([f, f3]), [("m1", "m2"), ("m2", "m3")],
                              n_resamples=200).assign(judge=["j1", "j2"])
    view = comparisons_view(table, keep=["judge"])
    assert list(view.columns) == ["judge", "comparison", "Δ [95% CI over users]", "p (users)",
                                  "p (users, Holm)", "users differing", "p (pairs, Holm)"]
    assert view["comparison"].tolist() == ["m1 − m2", "m2 − m3"]  # a, then b: never swapped
    assert view["judge"].tolist() == ["j1", "j2"]
    assert view.loc[1, "Δ [95% CI over users]"].startswith("+0.0")
    assert view.loc[0, "users differing"] == f"{table.loc[0, 'users differing']} of " \
        f"{table.loc[0, 'users']}"
