"""The compiled gather of :func:`oneshotbench.stats.bootstrap_means` (imported on first use)."""

from __future__ import annotations

import numpy as np

from oneshotbench.generator.jit import njit


@njit(cache=True, nogil=True)
def gather_resamples(
    floats: np.ndarray, counted: np.ndarray, index: np.ndarray, out: np.ndarray, counts: np.ndarray
) -> None:
    """Resample every score with the same rows of ``index`` [B, n]: float scores [F, n] are
    copied into ``out`` [F, B, n] (their means are taken by numpy), integer scores [K, n] are
    summed into ``counts`` [K, B]."""
    rows, n = index.shape
    for f in range(out.shape[0]):
        values = floats[f]
        for r in range(rows):
            for j in range(n):
                out[f, r, j] = values[index[r, j]]
    for c in range(counts.shape[0]):
        values = counted[c]
        for r in range(rows):
            total = 0
            for j in range(n):
                total += values[index[r, j]]
            counts[c, r] = total
