"""The shared-index bootstrap equals scipy.stats.bootstrap (the independent reference) exactly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from oneshotbench.stats import bootstrap_cis, bootstrap_means, paired_bootstrap_pvalue


def scipy_bootstrap(values: np.ndarray, seed: int, n_resamples: int, confidence: float = 0.95):
    """What the records used before: one scipy call per score, batched by 10 million values."""
    return stats.bootstrap(
        (np.asarray(values, dtype=np.float64),),
        np.mean,
        n_resamples=n_resamples,
        batch=max(1, min(n_resamples, 10_000_000 // len(values))),
        vectorized=True,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )


def scores(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    hit = rng.random(n) < 0.4
    return [rng.random(n), hit, hit & (rng.random(n) < 0.5), rng.integers(-3, 9, n)]


CASES = [(2, 0, 999), (7, 3, 2000), (1001, 1, 999), (2500, 0, 10_000), (12_345, 2, 1500)]


@pytest.mark.parametrize(("n", "seed", "n_resamples"), CASES)
def test_distributions_equal_scipy_draw_for_draw(n: int, seed: int, n_resamples: int) -> None:
    columns = scores(n, seed)
    means = bootstrap_means(columns, seed, n_resamples)
    for column, row in zip(columns, means, strict=True):
        expected = scipy_bootstrap(column, seed, n_resamples).bootstrap_distribution
        np.testing.assert_array_equal(row, expected)


def test_intervals_equal_scipy_and_do_not_depend_on_the_company() -> None:
    columns = scores(3000, 5)
    together = bootstrap_cis(columns, seed=9, n_resamples=4000, confidence=0.9)
    for column, interval in zip(columns, together, strict=True):
        ci = scipy_bootstrap(column, 9, 4000, 0.9).confidence_interval
        assert interval == (float(ci.low), float(ci.high))
        assert bootstrap_cis([column], seed=9, n_resamples=4000, confidence=0.9) == [interval]


def test_constant_columns_are_points_and_leave_the_others_unchanged() -> None:
    iou = scores(500, 1)[0]
    intervals = bootstrap_cis([np.zeros(500, bool), iou], seed=0, n_resamples=1000)
    assert intervals[0] == (0.0, 0.0)
    assert intervals[1] == bootstrap_cis([iou], seed=0, n_resamples=1000)[0]


def test_paired_pvalue_uses_the_scipy_distribution() -> None:
    a, b = scores(800, 4)[0], scores(800, 6)[0]
    means = scipy_bootstrap(a - b, 11, 999).bootstrap_distribution
    tail = min(np.count_nonzero(means <= 0), np.count_nonzero(means >= 0))
    assert paired_bootstrap_pvalue(a, b, 11, 999) == min(1.0, 2 * (tail + 1) / 1000)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_means([np.ones(3), np.ones(4)], 0, 10)
    with pytest.raises(ValueError, match="non-empty 1-d"):
        bootstrap_cis([np.ones((2, 2))], 0, 10)
