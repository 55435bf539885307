"""Bootstrap statistics over per-sample scores (confidence intervals, paired comparisons).

Intervals are the percentile bootstrap of ``scipy.stats.bootstrap`` with a generator seeded by the
caller, so a record's intervals and a leaderboard's p-values are reproducible from the seed it
stores. scipy's resampling loop is the slow part (an int64 index array and a fancy-indexed copy per
score, 10,000 x n values each); :func:`bootstrap_means` draws the *same* indices once for several
paired scores and gathers them in a compiled loop, so every distribution equals, bit for bit, what
``scipy.stats.bootstrap`` would have drawn for that score alone with that seed (tested against it),
and scipy then computes the interval from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

_BATCH_VALUES = 10_000_000  # resampled values per batch (~80 MB of float64); scipy's batching
_EXACT_SUM = 2**53  # integer scores whose sums stay below this are counted exactly


def _as_sample(values: np.ndarray) -> np.ndarray:
    sample = np.asarray(values)
    if sample.ndim != 1 or sample.size == 0:
        raise ValueError(f"expected a non-empty 1-d array of scores, got shape {sample.shape}")
    return sample


def _batch_size(n: int, n_resamples: int) -> int:
    """Resamples per batch, as the callers of scipy used (``batch=`` of ``stats.bootstrap``)."""
    return max(1, min(n_resamples, _BATCH_VALUES // n))


def _counted(sample: np.ndarray) -> bool:
    """Whether a score is summed exactly as integers (hits): then the order of addition cannot
    change the mean, and counting is several times cheaper than gathering floats."""
    if sample.dtype == np.bool_:
        return True
    if not np.issubdtype(sample.dtype, np.integer):
        return False
    return int(np.abs(sample).max()) * sample.size < _EXACT_SUM


def bootstrap_means(columns: Sequence[np.ndarray], seed: int, n_resamples: int) -> np.ndarray:
    """Bootstrap distributions of the means of paired scores: float64 [len(columns), n_resamples].

    All columns are resampled with one index stream from ``numpy.random.default_rng(seed)``; row
    ``c`` equals ``scipy.stats.bootstrap((columns[c],), np.mean, n_resamples=..., vectorized=True,
    rng=np.random.default_rng(seed)).bootstrap_distribution`` exactly: the same indices (scipy's
    int64 draws from ``Generator.integers`` are the 32-bit draws below while n < 2**31), the same
    gathered rows, the same ``np.mean`` (pairwise summation) for float scores, and exact integer
    sums for boolean and integer scores, whose mean no summation order can change.
    """
    samples = [_as_sample(column) for column in columns]
    n = samples[0].size
    if any(sample.size != n for sample in samples):
        raise ValueError(f"paired scores differ in length: {[s.size for s in samples]}")
    if n >= 2**31:
        raise ValueError(f"{n} samples is more than the 32-bit resampling supports")
    counted = [c for c, sample in enumerate(samples) if _counted(sample)]
    gathered = [c for c in range(len(samples)) if c not in counted]
    counts_in = np.stack([samples[c].astype(np.int64) for c in counted] or [np.zeros(n, np.int64)])
    floats_in = np.stack([samples[c].astype(np.float64) for c in gathered] or [np.zeros(n)])
    from oneshotbench.scoring_kernels import gather_resamples  # numba: only when resampling

    rng = np.random.default_rng(seed)
    means = np.empty((len(samples), n_resamples))
    batch = _batch_size(n, n_resamples)
    out = np.empty((len(gathered), batch, n))
    counts = np.empty((len(counted), batch), np.int64)
    for first in range(0, n_resamples, batch):
        size = min(batch, n_resamples - first)
        index = rng.integers(0, n, (size, n), dtype=np.int32)
        gather_resamples(floats_in, counts_in, index, out[:, :size], counts[:, :size])
        for row, c in enumerate(gathered):
            means[c, first : first + size] = np.mean(out[row, :size], axis=-1)
        for row, c in enumerate(counted):
            means[c, first : first + size] = counts[row, :size] / n
    return means


def _percentile_interval(
    sample: np.ndarray, distribution: np.ndarray, confidence: float
) -> tuple[float, float]:
    """scipy's percentile interval of a bootstrap distribution computed elsewhere."""
    from scipy import stats  # 1 s to import: paid when an interval is due, not at start-up

    interval = stats.bootstrap(
        (sample.astype(np.float64),),
        np.mean,
        n_resamples=0,
        bootstrap_result=SimpleNamespace(bootstrap_distribution=distribution),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
    ).confidence_interval
    return float(interval.low), float(interval.high)


def bootstrap_cis(
    columns: Sequence[np.ndarray], seed: int, n_resamples: int = 10_000, confidence: float = 0.95
) -> list[tuple[float, float]]:
    """Percentile bootstrap confidence intervals of the means of paired scores, one per column.

    Each equals :func:`bootstrap_ci` of that column with the same seed; drawing them together
    shares the resampling. A constant column (including a single sample) has no sampling spread:
    its interval is (v, v), returned directly because scipy would warn about degenerate data.
    """
    samples = [_as_sample(column) for column in columns]
    spread = [c for c, sample in enumerate(samples) if np.any(sample != sample[0])]
    intervals = [(float(sample[0]), float(sample[0])) for sample in samples]
    if spread:
        means = bootstrap_means([samples[c] for c in spread], seed, n_resamples)
        for row, c in enumerate(spread):
            intervals[c] = _percentile_interval(samples[c], means[row], confidence)
    return intervals


def bootstrap_ci(
    values: np.ndarray, seed: int, n_resamples: int = 10_000, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (see :func:`bootstrap_cis`)."""
    return bootstrap_cis([values], seed, n_resamples, confidence)[0]


def paired_bootstrap_pvalue(
    a: np.ndarray, b: np.ndarray, seed: int, n_resamples: int = 10_000
) -> float:
    """Two-sided p-value that the mean of the paired differences ``a - b`` is zero.

    It is the smallest level at which the percentile bootstrap interval of the mean difference
    excludes 0 (so p < 0.05 exactly when the 95% interval excludes 0), with add-one smoothing so
    it is never reported as exactly 0: ``min(1, 2 (min(#{m* <= 0}, #{m* >= 0}) + 1) / (n + 1))``.
    """
    first, second = _as_sample(a).astype(np.float64), _as_sample(b).astype(np.float64)
    if first.shape != second.shape:
        raise ValueError(f"paired samples differ in length: {first.size} vs {second.size}")
    diff = first - second
    if np.all(diff == diff[0]):
        means = np.full(n_resamples, diff[0])
    else:
        means = bootstrap_means([diff], seed, n_resamples)[0]
    tail = min(np.count_nonzero(means <= 0), np.count_nonzero(means >= 0))
    return float(min(1.0, 2.0 * (tail + 1) / (n_resamples + 1)))
