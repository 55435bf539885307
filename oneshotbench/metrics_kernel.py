"""The CPU pass of :mod:`oneshotbench.metrics`: every integer moment of two masks at once.

Imported on first use (numba). The torch reductions in ``metrics`` are the reference and run on
any device; on the CPU this single pass over both masks replaces five of them (the harness
scores every batch here), and the tests hold the two to equality.
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
