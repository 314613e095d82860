"""Simulation with a known truth: the user-level interval covers the population accuracy.

Users differ in how predictable they are (a user's chance that the judge is right is drawn
from a wide Beta distribution), have 3 to 12 test pairs, and a pair's two orders usually
agree. The claim the study makes is about the population of users, whose accuracy is the mean
of that Beta (test-set sizes do not depend on predictability). A 95% interval that resamples
users should cover it about 95% of the time; one that resamples test pairs, treating one
user's pairs as independent, covers it far less often. Fixed seeds, a modest number of
repetitions (the timing of this check lives nowhere: it is a property, not a benchmark).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from persona_judge.evaluation.report import compare_methods, pooled_accuracy

TRUTH_A, TRUTH_B = 0.6, 0.5  # population accuracies (Beta means) of two methods


def _study(rng: np.random.Generator, n_users: int = 40) -> pd.DataFrame:
    """One simulated study: methods A and B judge every user's test pairs in both orders."""
    # how predictable each user is, for each method (correlated: hard users are hard)
    base = rng.beta(1.2, 0.8, n_users)  # mean 0.6, wide
    chance = {"A": base, "B": np.clip(base - (TRUTH_A - TRUTH_B), 0, 1)}
    n_pairs = rng.integers(3, 13, n_users)
    user = np.repeat(np.arange(n_users), n_pairs)
    pair = np.concatenate([np.arange(n) for n in n_pairs])
    frames = []
    for method, p in chance.items():
        right = rng.random(len(user)) < p[user]
        # the second order agrees with the first 80% of the time, else is drawn afresh
        other = np.where(rng.random(len(user)) < 0.8, right, rng.random(len(user)) < p[user])
        for order, ok in (("chosen_first", right), ("rejected_first", other)):
            frames.append(pd.DataFrame({"method": method, "user_id": [f"u{u}" for u in user],
                                        "pair_id": [f"p{j}" for j in pair], "order": order,
                                        "correct": ok}))
    return pd.concat(frames, ignore_index=True)


def _truth_b() -> float:
    # E[max(base - 0.1, 0)] for base ~ Beta(1.2, 0.8), by quadrature
    from scipy import integrate, stats
    value, _ = integrate.quad(lambda x: max(x - (TRUTH_A - TRUTH_B), 0.0)
                              * stats.beta.pdf(x, 1.2, 0.8), 0, 1)
    return value


@pytest.mark.parametrize("seed", [11, 12])
def test_the_user_interval_covers_the_population_accuracy_and_the_pair_interval_does_not(
        seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth_diff = 100 * (TRUTH_A - _truth_b())
    hits = {"user": 0, "pair": 0, "diff user": 0, "diff pair": 0}
    reps = 150
    for rep in range(reps):
        study = _study(rng)
        for unit in ("user", "pair"):
            a = pooled_accuracy(study[study["method"] == "A"], unit=unit, n_resamples=1000,
                                seed=rep).iloc[0]
            hits[unit] += a["ci_low"] <= 100 * TRUTH_A <= a["ci_high"]
            d = compare_methods(study, "A", "B", unit=unit, n_resamples=1000, seed=rep)
            hits[f"diff {unit}"] += d["ci_low"] <= truth_diff <= d["ci_high"]
    coverage = {k: v / reps for k, v in hits.items()}
    # 150 repetitions: a coverage's standard error is about 0.02
    assert coverage["user"] >= 0.88, coverage
    assert coverage["pair"] <= 0.85, coverage
    assert coverage["user"] - coverage["pair"] >= 0.08, coverage
    assert coverage["diff user"] >= 0.85, coverage  # percentile intervals run a little short
