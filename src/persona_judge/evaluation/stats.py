"""Small pure statistics for accuracy: bootstrap CIs, paired differences, McNemar's test.

Inputs are per-judgment 0/1 correctness arrays (one entry per test pair per
order). Judgments are **not independent**: the two orders of one pair share
content, and one user's pairs share a taste. So every bootstrap here takes an
optional ``clusters`` array and resamples *clusters* (whole pairs, or whole
users) with replacement, recomputing accuracy as correct / judged over the
resampled clusters; with ``clusters=None`` each judgment is its own cluster,
which is the plain bootstrap and matches ``scipy.stats.bootstrap(...,
method="percentile")`` draw for draw given the same generator. Evaluation
chooses the unit (``"pair"`` by default; see :mod:`persona_judge.evaluation.report`).

Intervals are percentile intervals (``np.quantile``, linear interpolation).
McNemar's test counts discordant judgments (A right & B wrong, A wrong & B
right) and treats judgments as independent; with fewer than 25 discordant
judgments it uses the exact binomial form, as statsmodels recommends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

DEFAULT_RESAMPLES = 10_000


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
