"""Compiled template matching on the CPU (numba): the same integer dot products as the dense
matrix product of :meth:`TemplateMatcher.scores`, without multiplying by zeros.

A glyph crop holds 30-140 lit pixels of its 1,024, so correlating it with the 9,317 templates is
a sum of a few dozen template rows (one per lit pixel) rather than a product over every pixel:
with templates stored pixel-major, each (glyph, shift) adds those rows of bytes. The sums are
exact integers either way, and the cosine is then taken with the same float32 operations as the
torch path (product of masses, clamp at 1, correctly rounded square root, division), so the
scores are bit-equal (``tests/test_template_kernels.py``) and ties break the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BLOCK = 2048
"""Templates per pass: one block of every template row a glyph touches stays in the L2 cache
across the 25 shifts."""


@njit(cache=True, parallel=True)
def warp_pixel_major(
    mask: np.ndarray, columns: np.ndarray, rows: np.ndarray, com_x: float, com_y: float
) -> np.ndarray:
    """Templates as uint8 [P, k*S*S] from the target mask [h, w]: template (i, a, b) at pixel p
    reads the mask (zero outside it) at column floor(columns[p, i, a] + com_x + 0.5) and row
    floor(rows[p, i, b] + com_y + 0.5), all float32 as in the torch path."""
    height, width = mask.shape
    pixels, count, scales = columns.shape
    half = np.float32(0.5)
    cx, cy = np.float32(com_x), np.float32(com_y)
    out = np.zeros((pixels, count * scales * scales), np.uint8)
    for p in prange(pixels):
        ys = np.empty(scales, np.int64)
        for i in range(count):
            for b in range(scales):
                ys[b] = np.int64(np.floor(rows[p, i, b] + cy + half))
            for a in range(scales):
                x = np.int64(np.floor(columns[p, i, a] + cx + half))
                if x < 0 or x >= width:
                    continue
                column = (i * scales + a) * scales
                for b in range(scales):
                    y = ys[b]
                    if 0 <= y < height and mask[y, x]:
                        out[p, column + b] = 1
    return out


@njit(cache=True, parallel=True)
def window_masses(templates: np.ndarray, size: int, crop: int, radius: int) -> np.ndarray:
    """int32 [(2r+1)^2, M]: each template's pixel count inside the crop's window at every shift
    (dx, dy) (index (dy+r)*(2r+1) + dx+r), templates [size*size, M] pixel-major; window sums
    slide one column, then one row, at a time."""
    side = 2 * radius + 1
    count = templates.shape[1]
    rows = np.zeros((size, side, count), np.int32)  # row y summed over columns x0 .. x0+crop-1
    for y in prange(size):
        first = rows[y, 0]
        for x in range(crop):
            pixel = templates[y * size + x]
            for j in range(count):
                first[j] += pixel[j]
        for x0 in range(1, side):
            leaving, entering = templates[y * size + x0 - 1], templates[y * size + x0 + crop - 1]
            for j in range(count):
                rows[y, x0, j] = rows[y, x0 - 1, j] - leaving[j] + entering[j]
    out = np.zeros((side * side, count), np.int32)
    for x0 in prange(side):
        for y in range(crop):
            for j in range(count):
                out[x0, j] += rows[y, x0, j]
        for y0 in range(1, side):
            for j in range(count):
                out[y0 * side + x0, j] = (
                    out[(y0 - 1) * side + x0, j] - rows[y0 - 1, x0, j] + rows[y0 + crop - 1, x0, j]
                )
    return out


@njit(cache=True, parallel=True)
def best_matches(
    templates: np.ndarray,
    masses: np.ndarray,
    lit: np.ndarray,
    starts: np.ndarray,
    glyph_mass: np.ndarray,
    size: int,
    radius: int,
    normalized: bool,
) -> np.ndarray:
    """float32 [G]: each glyph's best score over templates and shifts.

    Glyph g's lit crop pixels are ``lit[starts[g]:starts[g + 1]]`` as flat indices
    ``cy * size + cx`` on the template canvas at zero shift; at shift index s the crop sits
    s // (2r+1) rows and s % (2r+1) columns further. The score is the dot product, or with
    ``normalized`` its cosine dot / sqrt(max(|C| * |T in window|, 1)) in float32.
    """
    side = 2 * radius + 1
    count = templates.shape[1]
    glyphs = len(starts) - 1
    out = np.empty(glyphs, np.float32)
    one = np.float32(1.0)
    for g in prange(glyphs):
        best = np.float32(-np.inf)
        acc = np.zeros(BLOCK, np.int16)
        mass = glyph_mass[g]
        for j0 in range(0, count, BLOCK):
            width = min(BLOCK, count - j0)
            for shift in range(side * side):
                offset = (shift // side) * size + shift % side
                acc[:width] = 0
                q, end = starts[g], starts[g + 1]
                while q + 4 <= end:  # four rows per pass over the accumulator
                    r0 = templates[lit[q] + offset, j0:]
                    r1 = templates[lit[q + 1] + offset, j0:]
                    r2 = templates[lit[q + 2] + offset, j0:]
                    r3 = templates[lit[q + 3] + offset, j0:]
                    for j in range(width):
                        acc[j] += np.int16((r0[j] + r1[j]) + (r2[j] + r3[j]))
                    q += 4
                for rest in range(q, end):
                    row = templates[lit[rest] + offset, j0:]
                    for j in range(width):
                        acc[j] += row[j]
                for j in range(width):
                    dot = np.float32(acc[j])
                    if normalized:
                        norm = np.sqrt(max(mass * np.float32(masses[shift, j0 + j]), one))
                        dot = dot / norm
                    best = max(best, dot)
        out[g] = best
    return out
