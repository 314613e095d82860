"""Small pure statistics for accuracy: bootstrap CIs, paired tests, multiplicity.

Inputs are per-judgment 0/1 correctness arrays (one entry per test pair per
order). Judgments are **not independent**: the two orders of one pair share
content, and one user's pairs share a taste. So every bootstrap here takes an
optional ``clusters`` array and resamples *clusters* (whole pairs, or whole
users) with replacement, recomputing accuracy as correct / judged over the
resampled clusters; with ``clusters=None`` each judgment is its own cluster,
which is the plain bootstrap and matches ``scipy.stats.bootstrap(...,
method="percentile")`` draw for draw given the same generator. Evaluation
chooses the unit (``"pair"`` by default; see :mod:`persona_judge.evaluation.report`).

Intervals are percentile intervals (``np.quantile``, linear interpolation). With
fewer than two clusters there is nothing to resample, and the interval is
``(nan, nan)`` rather than a misleading zero-width one.

Paired comparisons of two methods are tested on **per-unit outcomes** (a unit is
a test pair, whose two orders are averaged, or a user): the per-unit differences
in accuracy are tested with a sign-flip permutation test
(:func:`paired_permutation_test`, ``scipy.stats.permutation_test``; exact when
2^units ≤ ``n_resamples``), so the two orders of a pair are never counted as
independent evidence. Several comparisons at once are adjusted with Holm's method
(:func:`holm`, statsmodels; a comparison with no p-value, see below, is left out of the
family). A single unit cannot be tested (its one sign flip is the whole null
distribution): :func:`paired_permutation_test` then returns p = NaN with
``note = "not testable (1 unit)"`` (:data:`NOT_TESTABLE_ONE_UNIT`), which tables show in
place of a p-value. McNemar's test (:func:`mcnemar_test`) is kept for
callers that do have independent paired binary outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

DEFAULT_RESAMPLES = 10_000
#: What a table shows instead of a p-value when a paired test has a single unit.
NOT_TESTABLE_ONE_UNIT = "not testable (1 unit)"


@dataclass(frozen=True)
class AccuracyCI:
    """An accuracy with its bootstrap confidence interval (fractions in [0, 1])."""

    accuracy: float
    low: float
    high: float
    n_judgments: int
    n_clusters: int
    confidence: float = 0.95


@dataclass(frozen=True)
class DifferenceCI:
    """Accuracy of method A minus method B on the same judgments, with a paired bootstrap CI."""

    difference: float
    low: float
    high: float
    n_judgments: int
    n_clusters: int
    confidence: float = 0.95


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired judgments: discordant counts, statistic and p-value."""

    a_only: int   # judgments A got right and B got wrong
    b_only: int   # judgments B got right and A got wrong
    statistic: float
    pvalue: float
    exact: bool


def _cluster_sums(values: np.ndarray, clusters: Sequence[object] | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums and sizes (clusters in order of first appearance)."""
    if clusters is None:
        return values.astype(float), np.ones(len(values))
    if len(clusters) != len(values):
        raise ValueError(f"clusters has {len(clusters)} entries but there are {len(values)} "
                         "judgments; pass one cluster id per judgment.")
    _, first, inverse = np.unique(np.asarray(clusters, dtype=object).astype(str),
                                  return_index=True, return_inverse=True)
    sums = np.bincount(inverse, weights=values.astype(float))
    sizes = np.bincount(inverse).astype(float)
    order = np.argsort(first)  # keep first-appearance order so draws don't depend on ids
    return sums[order], sizes[order]


def _as_array(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-d sequence of 0/1 values, "
                         f"got shape {arr.shape}.")
    return arr


def bootstrap_ci(values: Sequence[float] | np.ndarray, *,
                 clusters: Sequence[object] | None = None, confidence: float = 0.95,
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values``, resampling ``clusters`` if given."""
    arr = _as_array(values, "values")
    sums, sizes = _cluster_sums(arr, clusters)
    if len(sums) < 2:
        return float("nan"), float("nan")  # one cluster: no sampling variation to show
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sums), (n_resamples, len(sums)))
    means = sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def accuracy_ci(correct: Sequence[bool] | np.ndarray, *,
                clusters: Sequence[object] | None = None, confidence: float = 0.95,
                n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> AccuracyCI:
    """Accuracy (mean of 0/1 correctness) with a percentile bootstrap CI."""
    arr = _as_array(correct, "correct")
    low, high = bootstrap_ci(arr, clusters=clusters, confidence=confidence,
                             n_resamples=n_resamples, seed=seed)
    n_clusters = len(arr) if clusters is None else len(set(map(str, clusters)))
    return AccuracyCI(float(arr.mean()), low, high, len(arr), n_clusters, confidence)


def paired_bootstrap_difference(correct_a: Sequence[bool] | np.ndarray,
                                correct_b: Sequence[bool] | np.ndarray, *,
                                clusters: Sequence[object] | None = None,
                                confidence: float = 0.95,
                                n_resamples: int = DEFAULT_RESAMPLES,
                                seed: int = 0) -> DifferenceCI:
    """Accuracy(A) - accuracy(B) on the same judgments; both resampled with the same draws."""
    a, b = _as_array(correct_a, "correct_a"), _as_array(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"Paired comparison needs the same judgments for both methods; got "
                         f"{len(a)} and {len(b)}. Align them by (user, pair, order) first.")
    low, high = bootstrap_ci(a - b, clusters=clusters, confidence=confidence,
                             n_resamples=n_resamples, seed=seed)
    n_clusters = len(a) if clusters is None else len(set(map(str, clusters)))
    return DifferenceCI(float(a.mean() - b.mean()), low, high, len(a), n_clusters, confidence)


def mcnemar_test(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray,
                 *, exact: bool | None = None, correction: bool = True) -> McNemarResult:
    """McNemar's test of equal accuracy on paired judgments (statsmodels conventions).

    ``exact=None`` picks the exact binomial test when there are fewer than 25
    discordant judgments. With no discordant judgment at all the p-value is 1.
    """
    a = _as_array(correct_a, "correct_a").astype(bool)
    b = _as_array(correct_b, "correct_b").astype(bool)
    if len(a) != len(b):
        raise ValueError(f"McNemar's test needs paired judgments; got {len(a)} and {len(b)}.")
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n = a_only + b_only
    use_exact = n < 25 if exact is None else exact
    if use_exact:
        statistic = float(min(a_only, b_only))
        pvalue = min(1.0, 2 * float(sps.binom.cdf(statistic, n, 0.5))) if n else 1.0
    elif n == 0:
        statistic, pvalue = 0.0, 1.0
    else:
        statistic = (abs(a_only - b_only) - int(correction)) ** 2 / n
        pvalue = float(sps.chi2.sf(statistic, 1))
    return McNemarResult(a_only, b_only, float(statistic), pvalue, use_exact)


@dataclass(frozen=True)
class PairedTest:
    """A paired sign-flip permutation test on per-unit differences (A minus B)."""

    difference: float  # mean per-unit difference
    pvalue: float
    n_units: int
    n_nonzero: int     # units where the two methods differ (the discordant ones)
    exact: bool
    note: str = ""     # why there is no p-value (NaN), e.g. NOT_TESTABLE_ONE_UNIT

    @property
    def testable(self) -> bool:
        return not self.note


def paired_permutation_test(differences: Sequence[float] | np.ndarray, *,
                            n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> PairedTest:
    """Two-sided test that the mean per-unit difference is zero, flipping signs of units.

    Exact (every sign assignment) when ``2**n_units <= n_resamples``. Units with no
    difference carry no evidence; with none at all the p-value is 1. A single unit is
    not testable: p is NaN and ``note`` says so (:data:`NOT_TESTABLE_ONE_UNIT`).
    """
    d = _as_array(differences, "differences")
    nonzero = int(np.count_nonzero(d))
    exact = 2 ** len(d) <= n_resamples
    if len(d) < 2:
        return PairedTest(float(d.mean()), float("nan"), len(d), nonzero, exact,
                          NOT_TESTABLE_ONE_UNIT)
    if nonzero == 0:
        return PairedTest(0.0, 1.0, len(d), 0, exact)
    result = sps.permutation_test((d,), np.mean, permutation_type="samples",
                                  n_resamples=n_resamples, alternative="two-sided",
                                  vectorized=True, rng=np.random.default_rng(seed))
    return PairedTest(float(d.mean()), float(min(1.0, result.pvalue)), len(d), nonzero, exact)


def unit_means(values: Sequence[float] | np.ndarray, units: Sequence[object]) -> np.ndarray:
    """Mean of ``values`` within each unit, units in order of first appearance."""
    sums, sizes = _cluster_sums(_as_array(values, "values"), units)
    return sums / sizes


def unit_sums(values: Sequence[float] | np.ndarray, units: Sequence[object]) -> np.ndarray:
    """Sum of ``values`` within each unit, units in order of first appearance."""
    sums, _ = _cluster_sums(_as_array(values, "values"), units)
    return sums


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values for a family of comparisons (statsmodels ``multipletests``).

    A NaN p-value (a comparison that could not be tested) stays NaN and is not counted in
    the family.
    """
    arr = np.asarray(list(pvalues), dtype=float)
    out = np.full(arr.shape, np.nan)
    tested = ~np.isnan(arr)
    if tested.any():
        out[tested] = multipletests(arr[tested], method="holm")[1]
    return [float(p) for p in out]
