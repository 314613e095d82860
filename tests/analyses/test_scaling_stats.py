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
    fit = smf.gee("correct ~ k", groups="user_id", data=data, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Exchangeable()).fit()
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
                  cov_struct=sm.cov_struct.Exchangeable()).fit()
    ks = [1.0, 3.0, 8.0]
    expected = 100 * fit.predict(pd.DataFrame({"k": ks}))
    assert scaling.fitted_curve(frame, ks) == pytest.approx(expected.to_numpy())
    assert np.all(np.diff(scaling.fitted_curve(frame, ks)) > 0)  # a positive slope rises
