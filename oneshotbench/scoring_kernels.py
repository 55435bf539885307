"""Compiled passes of the scoring side (numba; each caller imports this module on first use).

Each replaces several numpy or torch passes over a batch with one, and each has a plain
reference it is tested equal to: the torch reductions of :mod:`oneshotbench.metrics`,
``scipy.stats.bootstrap`` for :mod:`oneshotbench.stats`, ``np.bincount`` for the glyph analysis.
"""

from __future__ import annotations

import numpy as np

from oneshotbench.generator.jit import njit


@njit(cache=True, nogil=True)
def pair_moments(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """int64 [B, 7] from bool masks [B,H,W]: for the prediction and the ground truth each the
    pixel count, sum of column indices and sum of row indices, then the intersection count."""
    n, height, width = pred.shape
    out = np.zeros((n, 7), np.int64)
    for b in range(n):
        p_n = p_x = p_y = g_n = g_x = g_y = both = 0
        for y in range(height):
            row_p = row_g = row_both = 0
            for x in range(width):
                p = np.int64(pred[b, y, x])
                g = np.int64(gt[b, y, x])
                row_p += p
                row_g += g
                row_both += p & g
                p_x += p * x
                g_x += g * x
            p_n += row_p
            g_n += row_g
            both += row_both
            p_y += row_p * y
            g_y += row_g * y
        out[b, 0], out[b, 1], out[b, 2] = p_n, p_x, p_y
        out[b, 3], out[b, 4], out[b, 5] = g_n, g_x, g_y
        out[b, 6] = both
    return out


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


@njit(cache=True, nogil=True)
def instance_counts(instance_map: np.ndarray, pred: np.ndarray, bins: int) -> np.ndarray:
    """int64 [B, bins]: predicted pixels on each instance (0 = background, k = k-th glyph)."""
    n, height, width = pred.shape
    out = np.zeros((n, bins), np.int64)
    for b in range(n):
        for y in range(height):
            for x in range(width):
                if pred[b, y, x]:
                    out[b, instance_map[b, y, x]] += 1
    return out
