"""Scaling statistics against hand computations and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from persona_judge.analyses import scaling
from persona_judge.evaluation.stats import bootstrap_ci


def _frame(rows):
    return pd.DataFrame(rows, columns=["method", "user_id", "k", "draw", "pair_id", "order",
                                       "correct"])


def _simulated(n_users=120, slope=0.12, intercept=-0.4, spread=0.0, slope_spread=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        bump, tilt = rng.normal(0, spread), rng.normal(0, slope_spread)
        for k in (1, 2, 4, 8):
            p = 1 / (1 + math.exp(-(intercept + bump + (slope + tilt) * k)))
            for j in range(12):
                rows.append(("m", f"u{u}", k, 0, f"p{j}", "chosen_first", rng.random() < p))
    return _frame(rows)


def test_accuracy_by_k_is_the_mean_with_a_user_bootstrap():
    rows = [("m", "a", 1, 0, "p1", "chosen_first", True), ("m", "a", 1, 0, "p1",
                                                            "rejected_first", False),
            ("m", "b", 1, 0, "p2", "chosen_first", True), ("m", "b", 1, 1, "p2",
                                                            "chosen_first", True),
            ("m", "a", 2, 0, "p1", "chosen_first", False)]
    table = scaling.accuracy_by_k(_frame(rows), n_resamples=500, seed=1)
    one = table[table["k"] == 1].iloc[0]
    assert one["accuracy"] == pytest.approx(75.0) and one["n_users"] == 2
    assert one["n_judgments"] == 4
    low, high = bootstrap_ci(np.array([1.0, 0.0, 1.0, 1.0]), clusters=["a", "a", "b", "b"],
                             n_resamples=500, seed=1)
    assert (one["ci_low"], one["ci_high"]) == pytest.approx((100 * low, 100 * high))
    two = table[table["k"] == 2].iloc[0]
    assert two["accuracy"] == 0 and math.isnan(two["ci_low"])  # one user: no interval


def test_difference_by_k_pairs_every_draw_with_the_reference_on_the_same_judgment():
    rows = [("S", "a", 1, 0, "p1", "chosen_first", True), ("S", "a", 1, 1, "p1",
                                                            "chosen_first", False),
            ("S", "a", 1, 0, "p1", "rejected_first", True),
            ("D", "a", 1, 0, "p1", "chosen_first", False),
            ("D", "a", 1, 0, "p1", "rejected_first", True)]
    diff = scaling.difference_by_k(_frame(rows), "S", "D", n_resamples=200)
    # (1-0) + (0-0) + (1-1) over three judgments
    assert diff.iloc[0]["difference"] == pytest.approx(100 / 3)
    with pytest.raises(ValueError, match="one judgment per user"):
        scaling.difference_by_k(_frame(rows + [("D", "a", 1, 1, "p1", "chosen_first",
                                                 True)]), "S", "D")


def test_gee_slope_is_the_average_marginal_effect_of_statsmodels_gee_with_user_clusters():
    frame = _simulated(n_users=40, spread=0.8)
    est = scaling.gee_slope(frame)
    data = frame.assign(correct=frame["correct"].astype(float), k=frame["k"].astype(float))
    # every user has 12 judgments at every k: equal weights, the unweighted fit
    fit = smf.gee("correct ~ k", groups="user_id", data=data, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Independence()).fit()
    p = fit.fittedvalues
    # the average marginal effect by hand: mean of b * p * (1 - p), in points
    assert est.slope == pytest.approx(100 * (fit.params["k"] * p * (1 - p)).mean(), rel=1e-6)
    assert est.coef == pytest.approx(fit.params["k"]) and est.coef_se == pytest.approx(
        fit.bse["k"])
    assert est.low < est.slope < est.high and est.n_users == 40


def test_gee_slope_recovers_a_known_slope():
    slope, intercept = 0.12, -0.4
    est = scaling.gee_slope(_simulated(n_users=300, slope=slope, intercept=intercept))
    ks = np.array([1, 2, 4, 8], dtype=float)
    p = 1 / (1 + np.exp(-(intercept + slope * ks)))
    truth = 100 * (slope * p * (1 - p)).mean()  # each k equally often
    assert est.low < truth < est.high
    assert est.slope == pytest.approx(truth, abs=0.6)
    assert est.pvalue < 1e-6


def test_gee_slope_interval_is_cluster_robust():
    # users differ in how much each preference helps them: judgments of one user share that,
    # so treating every judgment as independent would make the interval too narrow
    frame = _simulated(n_users=30, spread=0.5, slope_spread=0.3, seed=3)
    est = scaling.gee_slope(frame)
    naive = smf.glm("correct ~ k", data=frame.assign(correct=frame["correct"].astype(float)),
                    family=sm.families.Binomial()).fit()
    assert est.coef_se > 1.5 * naive.bse["k"]


@pytest.mark.parametrize(("change", "why"), [
    ({"k": 3}, "only one k"), ({"correct": True}, "same outcome"), ({"user_id": "u0"},
                                                                    "one user")])
def test_gee_slope_says_why_it_has_no_slope(change, why):
    est = scaling.gee_slope(_simulated(n_users=5).assign(**change))
    assert math.isnan(est.slope) and why in est.note


def test_slope_table_puts_the_paper_beside_synthesizeme_only():
    frame = pd.concat([_simulated(n_users=20).assign(method=m)
                       for m in (scaling.SYNTHESIZEME, scaling.DEFAULT)])
    table = scaling.slope_table(frame).set_index("method")
    assert table.at[scaling.SYNTHESIZEME, "paper"] == scaling.PAPER_SLOPE == 0.8
    assert pd.isna(table.at[scaling.DEFAULT, "paper"])
    assert scaling.MEMORY not in table.index  # absent methods are skipped


def test_first_k_above_needs_the_whole_interval_above_the_reference():
    by_k = pd.DataFrame([
        {"method": "S", "k": 1, "ci_low": 50.0, "ci_high": 70.0},
        {"method": "D", "k": 1, "ci_low": 45.0, "ci_high": 55.0},   # overlaps
        {"method": "S", "k": 2, "ci_low": 55.0, "ci_high": 75.0},
        {"method": "D", "k": 2, "ci_low": 45.0, "ci_high": 55.0},   # touches: not above
        {"method": "S", "k": 4, "ci_low": 56.0, "ci_high": 80.0},
        {"method": "D", "k": 4, "ci_low": 45.0, "ci_high": 55.0},   # above
        {"method": "S", "k": 8, "ci_low": float("nan"), "ci_high": float("nan")},
        {"method": "D", "k": 8, "ci_low": 45.0, "ci_high": 55.0}])
    assert scaling.first_k_above(by_k, "S", "D") == 4
    assert scaling.first_k_above(by_k[by_k["k"] != 4], "S", "D") is None
    diff = pd.DataFrame({"k": [4, 1, 2], "ci_low": [3.0, -1.0, 0.0]})
    assert scaling.first_k_difference_above(diff) == 4  # sorted by k; 0 is not above zero


def test_fitted_curve_is_the_gee_prediction_in_percent():
    frame = _simulated(n_users=30, slope=0.2)
    data = frame.assign(correct=frame["correct"].astype(float), k=frame["k"].astype(float))
    fit = smf.gee("correct ~ k", groups="user_id", data=data, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Independence()).fit()
    ks = [1.0, 3.0, 8.0]
    expected = 100 * fit.predict(pd.DataFrame({"k": ks}))
    assert scaling.fitted_curve(frame, ks) == pytest.approx(expected.to_numpy())
    assert np.all(np.diff(scaling.fitted_curve(frame, ks)) > 0)  # a positive slope rises


# -- every user weighs the same at every k ---------------------------------------------------
PATTERNS = {"a": [1, 1, 0], "b": [0, 1, 0, 0, 1]}  # a right on 2 of 3 test pairs, b on 2 of 5


def _two_users(k_grid=(1, 2, 3, 4, 5), *, n_draws=True):
    """Two users whose accuracy does not depend on k at all, for SynthesizeMe and the default
    judge alike. User a's pool is small: from k = 4 on, its three draws give one subset, fitted
    once (n_draws 3); user b has three distinct fits at every k. Draws of one user get other
    pairs right, with the same accuracy."""
    rows = []
    for user, pattern in PATTERNS.items():
        for k in k_grid:
            fits = [(0, 3)] if user == "a" and k >= 4 else [(0, 1), (1, 1), (2, 1)]
            for draw, stands_for in fits:
                turned = pattern[draw:] + pattern[:draw]
                for j, right in enumerate(turned):
                    for order in ("chosen_first", "rejected_first"):
                        rows.append((scaling.SYNTHESIZEME, user, k, draw, stands_for,
                                     f"{user}{j}", order, bool(right)))
            for j, right in enumerate(pattern):
                for order in ("chosen_first", "rejected_first"):
                    rows.append((scaling.DEFAULT, user, k, 0, 3, f"{user}{j}", order,
                                 bool(right)))
    frame = pd.DataFrame(rows, columns=["method", "user_id", "k", "draw", "n_draws",
                                        "pair_id", "order", "correct"])
    return frame if n_draws else frame.drop(columns="n_draws")


def test_user_weights_sum_to_one_per_method_user_and_k_and_follow_the_draws():
    frame = _two_users()
    w = pd.Series(scaling.user_weights(frame), index=frame.index)
    sums = w.groupby([frame["method"], frame["user_id"], frame["k"]]).sum()
    assert np.allclose(sums, 1.0)
    # user a at k = 4: one fit standing for 3 draws, 3 pairs x 2 orders
    a4 = w[(frame["method"] == scaling.SYNTHESIZEME) & (frame["user_id"] == "a")
           & (frame["k"] == 4)]
    assert np.allclose(a4, 1 / 6)
    # user b at k = 4: three fits, 5 pairs x 2 orders each
    b4 = w[(frame["method"] == scaling.SYNTHESIZEME) & (frame["user_id"] == "b")
           & (frame["k"] == 4)]
    assert np.allclose(b4, 1 / 30)
    # a merged fit weighs as much as the draws it stands for, against a distinct one
    mixed = frame[(frame["user_id"] == "b") & (frame["k"] == 1)
                  & (frame["method"] == scaling.SYNTHESIZEME)].copy()
    mixed["n_draws"] = [2 if d == 0 else 1 for d in mixed["draw"]]
    mixed = mixed[mixed["draw"] != 1]
    mw = pd.Series(scaling.user_weights(mixed), index=mixed.index)
    assert mw[mixed["draw"] == 0].sum() == pytest.approx(2 / 3)


def test_two_users_whose_accuracy_does_not_depend_on_k_give_equal_accuracy_and_slope_zero():
    frame = _two_users()
    by_k = scaling.accuracy_by_k(frame, n_resamples=300, seed=2)
    truth = 100 * (2 / 3 + 2 / 5) / 2  # each user once
    assert by_k["accuracy"].to_numpy() == pytest.approx(truth)  # every method, every k
    assert by_k["n_users"].tolist() == [2] * len(by_k)
    diff = scaling.difference_by_k(frame, scaling.SYNTHESIZEME, n_resamples=300)
    assert diff["difference"].to_numpy() == pytest.approx(0.0, abs=1e-9)
    slopes = scaling.slope_table(frame).set_index("method")
    assert slopes.at[scaling.SYNTHESIZEME, "slope"] == pytest.approx(0.0, abs=1e-6)
    assert slopes.at[scaling.SYNTHESIZEME, "log-odds slope"] == pytest.approx(0.0, abs=1e-9)
    assert slopes.at[scaling.DEFAULT, "slope"] == 0.0
    curve = scaling.fitted_curve(frame[frame["method"] == scaling.SYNTHESIZEME], [1.0, 5.0])
    assert curve == pytest.approx([truth, truth])
    # and SynthesizeMe is never "above" the default judge
    assert scaling.first_k_above(by_k) is None


def test_without_draw_weights_the_merged_user_would_weigh_less():
    # the frame without n_draws still gives every user the same weight at every k (rows of a
    # user are averaged first), so even a caller that drops the column gets no bias ...
    plain = scaling.accuracy_by_k(_two_users(n_draws=False), n_resamples=100)
    assert plain["accuracy"].to_numpy() == pytest.approx(100 * (2 / 3 + 2 / 5) / 2)
    # ... whereas pooling judgments (what the table used to show) moves k = 4 and 5
    frame = _two_users()
    synth = frame[frame["method"] == scaling.SYNTHESIZEME]
    pooled = synth.groupby("k")["correct"].mean()
    assert pooled[4] < pooled[1] - 0.05


def test_weighted_slope_is_the_weighted_logistic_regression_with_user_robust_errors():
    rng = np.random.default_rng(5)
    frame = _simulated(n_users=30, slope=0.15, spread=0.6, seed=5)
    frame["n_draws"] = rng.integers(1, 4, len(frame))
    frame = frame[rng.random(len(frame)) < 0.8]  # users with other numbers of judgments
    est = scaling.gee_slope(frame)
    w = scaling.user_weights(frame)
    data = frame.assign(correct=frame["correct"].astype(float), k=frame["k"].astype(float))
    glm = smf.glm("correct ~ k", data=data, family=sm.families.Binomial(),
                  var_weights=w).fit()
    assert est.coef == pytest.approx(glm.params["k"], rel=1e-6)
    gee = smf.gee("correct ~ k", groups="user_id", data=data, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Independence(),
                  weights=w * len(w) / w.sum()).fit()
    assert est.coef_se == pytest.approx(gee.bse["k"], rel=1e-6)


def test_the_default_judges_slope_in_a_balanced_design_is_0_by_design(recwarn):
    frame = _simulated(n_users=6, seed=8)
    base = frame[frame["k"] == 1]
    default = pd.concat([base.assign(k=k) for k in (1, 2, 4, 8)]).assign(
        method=scaling.DEFAULT)
    est = scaling.gee_slope(default)
    assert est.slope == 0.0 and est.pvalue == 1.0
    assert est.note.startswith(scaling.ZERO_BY_DESIGN)
    assert scaling.slope_text(est.slope, est.low, est.high, est.note) == "0 by design"
    assert not [w for w in recwarn.list if "invalid value" in str(w.message)]
    # another method whose judgments happen not to change: exactly 0, not "by design"
    same = scaling.gee_slope(default.assign(method=scaling.SYNTHESIZEME))
    assert same.slope == 0.0 and same.note.startswith(scaling.ZERO_EXACTLY)
    # unbalanced (a user leaves after k = 2): not 0 by design, the fit runs
    unbalanced = default[~((default["user_id"] == "u0") & (default["k"] > 2))]
    assert not scaling.zero_by_design(unbalanced)
    assert not scaling.gee_slope(unbalanced).note.startswith(scaling.ZERO_BY_DESIGN)
    # one judgment that differs at one k: not 0 by design either
    flipped = default.copy()
    first = flipped.index[(flipped["k"] == 8)][0]
    flipped = flipped.reset_index(drop=True)
    flipped.loc[len(base) * 3, "correct"] = not flipped.loc[len(base) * 3, "correct"]
    assert first is not None and not scaling.zero_by_design(flipped)


def test_a_slope_is_exactly_0_when_merged_and_separate_fits_judge_alike():
    # Memory in a smoke run: at k = 1 one fit stands for both draws, at k = 3 two fits, and
    # every fit judges alike; weighted, the data is the same at every k
    base = _simulated(n_users=5, seed=9)
    base = base[base["k"] == 1].assign(method=scaling.MEMORY)
    merged = base.assign(k=1, n_draws=2)
    separate = pd.concat([base.assign(k=3, draw=d, n_draws=1) for d in (0, 1)])
    frame = pd.concat([merged, separate], ignore_index=True)
    assert scaling.zero_by_design(frame)
    est = scaling.gee_slope(frame)
    assert est.slope == 0.0 and est.note.startswith(scaling.ZERO_EXACTLY)
    assert scaling.slope_text(est.slope, est.low, est.high, est.note).startswith("0 exactly")
    # one separate fit judging one pair otherwise: a real fit again
    frame.loc[len(merged), "correct"] = not frame.loc[len(merged), "correct"]
    assert not scaling.zero_by_design(frame)
