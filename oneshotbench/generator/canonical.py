"""The compiled canonical generator: the authors' sample procedure, bit for bit, without Pillow.

Per glyph the original warps the 105x105 bitmap with Pillow's affine transform, resizes it by
32/105 with nearest neighbour, crops it with an off-by-one box and pastes it. Here the warp and the
resize are fused: only the pixels the resize reads are computed, with Pillow's own arithmetic
(16.16 fixed point for the warp, an accumulated double step for the resize). The per-glyph
scalars are computed the way the original computes them: C-library trig and ``pow``, and the 3x3
inverse as numpy's LAPACK computes it (LU with partial pivoting, reciprocal scaling — verified
bit-identical to ``np.linalg.inv`` on these matrices by the tests). No fast-math: numba leaves
floating-point operations unfused and in source order.

Where the time goes (``python benchmarks/kernel_anatomy.py``; README, "The data path"): per
glyph the warp + resize computes about 1,600 canvas pixels at about 1.4 ns each (one gather from
the bit-packed bitmap per pixel, which does not vectorise), the paste about 340 pixels at about
0.6 ns; per scene the statistics pass over the instance map (9,216 pixels) and the first touch of
fresh output pages are fixed costs. So level 4 is bound by the per-scene costs, level 256 by the
warp; at about 2 ns per touched pixel the kernel is near the limit estimated for it.

Pure kernels only: no files, no printing. :mod:`oneshotbench.generator.jobs` drives them.
"""

from __future__ import annotations

import math

import numpy as np

from oneshotbench.generator.jit import njit
from oneshotbench.generator.mt19937 import CONSUMED, next_double, randint, skip_words, uniform
from oneshotbench.generator.spec import (
    GLYPH_TOO_LARGE,
    MAX_ROTATION,
    MAX_SCALE,
    MAX_SHEAR,
    OK,
    SCENE_SIZE,
    SOURCE_SIZE,
    T_B,
    T_CHAR,
    T_DRAWER,
    T_G,
    T_H,
    T_R,
    T_SUM_X,
    T_SUM_Y,
    T_VISIBLE,
    T_W,
    T_X,
    T_Y,
    TARGET_SIZE,
    UNKNOWN_BOUNDS,
)

GLYPH_BUFFER = 128  # > the largest possible resized glyph (about 95 px)
SCRATCH = 512  # > the largest warped canvas side (about 290 px)

_DEG = math.pi / 180.0


@njit(cache=True, nogil=True)
def _fix(value: float) -> int:
    """Pillow's 16.16 fixed-point rounding, ``floor(v * 65536 + 0.5)``."""
    return int(math.floor(value * 65536.0 + 0.5))


@njit(cache=True, nogil=True)
def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


@njit(cache=True, nogil=True)
def _column_range(origin: int, step: int, low: int, high: int) -> tuple[int, int]:
    """Canvas columns c (inclusive range) with ``low <= (origin + c * step) >> 16 <= high``.

    Exact integer arithmetic on Pillow's 16.16 accumulators; an empty range has first > last.
    """
    lower, upper = low << 16, ((high + 1) << 16) - 1
    if step > 0:
        return _ceil_div(lower - origin, step), (upper - origin) // step
    if step < 0:
        return _ceil_div(origin - upper, -step), (origin - lower) // -step
    inside = lower <= origin <= upper
    return (0, 1 << 30) if inside else (1, 0)


@njit(cache=True, nogil=True)
def stroke_box(bitmap: np.ndarray, box: np.ndarray) -> None:
    """Fill ``box`` with the inclusive stroke bounding box (x0, x1, y0, y1) of a packed bitmap.

    Computed on a glyph's first use and kept (the caller's array is shared across calls); an
    empty bitmap gets an empty box (x0 > x1), so nothing is ever read from it.
    """
    x0, x1, y0, y1 = SOURCE_SIZE, -1, SOURCE_SIZE, -1
    for y in range(SOURCE_SIZE):
        for byte in range(bitmap.shape[1]):
            bits = bitmap[y, byte]
            if bits:
                y0 = min(y0, y)
                y1 = max(y1, y)
                for bit in range(8):
                    if (bits >> (7 - bit)) & 1:
                        x0 = min(x0, byte * 8 + bit)
                        x1 = max(x1, byte * 8 + bit)
    box[1] = x1
    box[2] = y0
    box[3] = y1
    box[0] = x0  # written last: a concurrent reader never sees a half-filled box


@njit(cache=True, nogil=True)
def warp_and_resize(
    bitmap: np.ndarray,
    phi: float,
    theta: float,
    a: float,
    b: float,
    out: np.ndarray,
    scratch: np.ndarray,
    bounds: np.ndarray,
) -> tuple[int, int, int, int, int, int]:
    """Render one glyph as Pillow's ``transform`` + ``resize`` would.

    ``bitmap`` is a bit-packed 105x105 stroke bitmap [105, 14]; ``out[:height, :width]`` receives
    the resized glyph (1 = stroke); ``scratch`` is int64 [3, SCRATCH]; ``bounds`` is the source
    bitmap's inclusive stroke bounding box (x0, x1, y0, y1), see :func:`stroke_box`. Returns
    (width, height, left, top, right, bottom), the last four the inclusive stroke bounding box of
    the output (top = -1 when there is no stroke pixel).
    """
    cpt = math.cos(phi + theta)
    spt = math.sin(phi + theta)
    cmt = math.cos(phi - theta)
    smt = math.sin(phi - theta)
    x = a * SOURCE_SIZE
    y = b * SOURCE_SIZE
    # Corners of the scaled square through the linear part, evaluated as the original does.
    x1 = cpt * 0.0 + smt * y
    x2 = cpt * x + smt * 0.0
    x3 = cpt * x + smt * y
    y1 = -spt * 0.0 + cmt * y
    y2 = -spt * x + cmt * 0.0
    y3 = -spt * x + cmt * y
    min_x = min(0.0, x1, x2, x3)
    max_x = max(0.0, x1, x2, x3)
    min_y = min(0.0, y1, y2, y3)
    max_y = max(0.0, y1, y2, y3)
    # Inverse of [[m00, m01, m02], [m10, m11, m12], [0, 0, 1]] exactly as LAPACK's dgesv does
    # it in numpy: no row swap (|cos| > |sin| for |phi + theta| <= 30 deg), reciprocals.
    m00 = a * cpt
    m01 = b * smt
    m02 = -min_x
    m10 = -a * spt
    m11 = b * cmt
    m12 = -min_y
    r00 = 1.0 / m00
    l10 = m10 * r00
    u11 = m11 - l10 * m01
    u12 = m12 - l10 * m02
    r11 = 1.0 / u11
    c3 = (-l10 - 0.0 * u12) * r11
    c0 = ((1.0 - 0.0 * m02) - c3 * m01) * r00
    c4 = (1.0 - 0.0 * u12) * r11
    c1 = ((0.0 - 0.0 * m02) - c4 * m01) * r00
    c5 = (0.0 - 1.0 * u12) * r11
    c2 = ((0.0 - 1.0 * m02) - c5 * m01) * r00
    # Pillow's affine transform, nearest neighbour, 16.16 fixed point.
    a0 = _fix(c0)
    a1 = _fix(c1)
    a3 = _fix(c3)
    a4 = _fix(c4)
    x_origin = _fix(c2 + c0 * 0.5 + c1 * 0.5)
    y_origin = _fix(c5 + c3 * 0.5 + c4 * 0.5)
    extent_x = max_x - min_x
    extent_y = max_y - min_y
    canvas_w = int(extent_x)
    canvas_h = int(extent_y)
    # Pillow's nearest-neighbour resize: accumulated source coordinates in double precision.
    width = int(32 * extent_x / 105)
    height = int(32 * extent_y / 105)
    step_x = canvas_w / width
    step_y = canvas_h / height
    # Output columns read canvas columns col(i), non-decreasing in i. first[c] is the first
    # output column reading canvas column >= c, so a range of canvas columns maps to a span of
    # output columns. Only the span reading inside the glyph's stroke box can be non-zero.
    step_cx, step_cy, first = scratch[0], scratch[1], scratch[2]
    xo = step_x * 0.5
    c = 0
    for i in range(width):
        column = int(xo)
        xo += step_x
        step_cx[i] = column * a0
        step_cy[i] = column * a3
        while c <= min(column, canvas_w):
            first[c] = i
            c += 1
    while c <= canvas_w:
        first[c] = width
        c += 1
    left, top, right, bottom = width, -1, -1, -1
    yo = step_y * 0.5
    for j in range(height):
        row = int(yo)
        yo += step_y
        out[j, :width] = 0
        if row >= canvas_h:
            continue
        row_x = x_origin + row * a1
        row_y = y_origin + row * a4
        lo_x, hi_x = _column_range(row_x, a0, bounds[0], bounds[1])
        lo_y, hi_y = _column_range(row_y, a3, bounds[2], bounds[3])
        lo = max(lo_x, lo_y, 0)
        hi = min(hi_x, hi_y, canvas_w - 1)
        if lo > hi:
            continue
        lo, hi = first[lo], first[hi + 1]
        row = out[j]
        for i in range(lo, hi):  # branch-free, so LLVM can vectorise it
            src_x = (row_x + step_cx[i]) >> 16
            src_y = (row_y + step_cy[i]) >> 16
            row[i] = (bitmap[src_y, src_x >> 3] >> (7 - (src_x & 7))) & 1
        first_stroke = lo
        while first_stroke < hi and not row[first_stroke]:
            first_stroke += 1
        if first_stroke == hi:
            continue
        last_stroke = hi - 1
        while not row[last_stroke]:
            last_stroke -= 1
        left = min(left, first_stroke)
        right = max(right, last_stroke)
        if top < 0:
            top = j
        bottom = j
    return width, height, left, top, right, bottom


@njit(cache=True, nogil=True)
def crop_box(left: int, top: int, right: int, bottom: int) -> tuple[int, int, int, int]:
    """The authors' crop of a stroke bounding box: (left, top, width, height), width -1 if empty.

    Their PIL box (left, top, right, bottom) excludes the last stroke row and column, so a
    1-px-thin glyph crops to zero width or height.
    """
    if top < 0:
        return 0, 0, -1, 0
    return left, top, right - left, bottom - top


@njit(cache=True, nogil=True)
def _render(
    state: np.ndarray,
    bitmap: np.ndarray,
    bounds: np.ndarray,
    scale: float,
    buffer: np.ndarray,
    scratch: np.ndarray,
):
    """Augment, crop and colour one glyph, drawing exactly what the original draws.

    Returns (ok, left, top, width, height, r, g, b); ``ok`` False means the original's retry.
    """
    if bounds[0] == UNKNOWN_BOUNDS:
        stroke_box(bitmap, bounds)
    phi = uniform(state, -MAX_ROTATION, MAX_ROTATION) * _DEG
    theta = uniform(state, -MAX_SHEAR, MAX_SHEAR) * _DEG
    a = scale ** uniform(state, -1.0, 1.0)
    b = scale ** uniform(state, -1.0, 1.0)
    _, _, left, top, right, bottom = warp_and_resize(
        bitmap, phi, theta, a, b, buffer, scratch, bounds
    )
    left, top, width, height = crop_box(left, top, right, bottom)
    if width < 0:
        return False, 0, 0, 0, 0, 0, 0, 0  # no stroke at all: failed before colouring
    r = int(255 * next_double(state))
    g = int(255 * next_double(state))
    b_ = int(255 * next_double(state))
    # The 2018 stack: a zero-size crop got its colour drawn, then failed and was retried.
    return width > 0 and height > 0, left, top, width, height, r, g, b_


@njit(cache=True, nogil=True)
def _paste_scene(buffer, left, top, width, height, x, y, r, g, b, label, scene, instances):
    for j in range(height):
        for i in range(width):
            if buffer[top + j, left + i]:
                scene[y + j, x + i, 0] = r
                scene[y + j, x + i, 1] = g
                scene[y + j, x + i, 2] = b
                instances[y + j, x + i] = label


@njit(cache=True, nogil=True)
def _paste_target(buffer, left, top, width, height, r, g, b, target):
    x0 = (TARGET_SIZE - width) // 2
    y0 = (TARGET_SIZE - height) // 2
    for j in range(height):
        for i in range(width):
            ty = y0 + j
            tx = x0 + i
            if 0 <= ty < TARGET_SIZE and 0 <= tx < TARGET_SIZE and buffer[top + j, left + i]:
                target[ty, tx, 0] = r
                target[ty, tx, 1] = g
                target[ty, tx, 2] = b


@njit(cache=True, nogil=True)
def _record(table, k, char, drawer, r, g, b, x, y, width, height):
    table[k, T_CHAR] = char
    table[k, T_DRAWER] = drawer
    table[k, T_R] = r
    table[k, T_G] = g
    table[k, T_B] = b
    table[k, T_X] = x
    table[k, T_Y] = y
    table[k, T_W] = width
    table[k, T_H] = height


@njit(cache=True, nogil=True)
def _visible_stats(instances, table):
    for y in range(SCENE_SIZE):
        for x in range(SCENE_SIZE):
            label = instances[y, x]
            if label > 0:
                table[label - 1, T_VISIBLE] += 1
                table[label - 1, T_SUM_X] += x
                table[label - 1, T_SUM_Y] += y


@njit(cache=True, nogil=True)
def generate_samples(
    state: np.ndarray,
    glyphs: np.ndarray,
    bounds: np.ndarray,
    pool: np.ndarray,
    drawer_low: int,
    drawer_high: int,
    level: int,
    scenes: np.ndarray,
    masks: np.ndarray,
    targets: np.ndarray,
    instance_maps: np.ndarray,
    tables: np.ndarray,
    offsets: np.ndarray,
    word_offset: int,
    pre_fix: int,
) -> int:
    """Generate ``len(scenes)`` consecutive samples of a job from ``state`` (advanced in place).

    ``glyphs`` holds bit-packed bitmaps [chars, 20, 105, 14] indexed by global character id,
    ``bounds`` their stroke boxes [chars, 20, 4] (:data:`UNKNOWN_BOUNDS` where not yet known);
    ``pool`` the global ids of the job's characters. Outputs are written into the given arrays
    (zeroed here); ``offsets[i]`` receives the word offset at which sample i starts. Instance
    maps and tables of length 1 (not one per sample) are scratch: the per-glyph statistics are
    then skipped. The first
    ``word_offset`` words of ``state`` are skipped (random access inside a job). ``pre_fix``
    non-zero draws as the authors' code did before its September 2018 fix (dataset version 0):
    the distractor count is ``choice(level - 1)``, i.e. ``randint(0, level - 1)``; a distractor
    whose rendering fails is skipped, not redrawn; a failed scene target restarts the scene
    (fresh canvas, the same number of distractor attempts). Unplaced distractor rows of the table
    stay zero (drawer 0). Returns :data:`OK`, or :data:`GLYPH_TOO_LARGE` where the original would
    have crashed.
    """
    skip_words(state, word_offset)
    buffer = np.zeros((GLYPH_BUFFER, GLYPH_BUFFER), np.uint8)
    scratch = np.zeros((3, SCRATCH), np.int64)
    n_chars = len(pool)
    per_sample = len(instance_maps) == len(scenes) and len(tables) == len(scenes)
    for s in range(len(scenes)):
        offsets[s] = state[CONSUMED]
        scene = scenes[s]
        instances = instance_maps[s if per_sample else 0]
        table = tables[s if per_sample else 0]
        masks[s][:] = False
        targets[s][:] = 0
        char = pool[randint(state, 0, n_chars)]
        drawer = randint(state, drawer_low, drawer_high)
        distractors = randint(state, 0, level - 1) if pre_fix else level - 1
        while True:  # once, except where a failed pre-fix target restarts the scene
            scene[:] = 0
            instances[:] = 0
            table[:] = 0
            placed = 0
            attempts = 0  # bounded only before the fix: a failed distractor was skipped
            while placed < distractors and (not pre_fix or attempts < distractors):
                attempts += 1
                other = pool[randint(state, 0, n_chars)]
                other_drawer = randint(state, drawer_low, drawer_high)
                ok, left, top, w, h, r, g, b = _render(
                    state,
                    glyphs[other, other_drawer],
                    bounds[other, other_drawer],
                    MAX_SCALE,
                    buffer,
                    scratch,
                )
                if not ok:
                    continue
                if w > SCENE_SIZE or h > SCENE_SIZE:
                    return GLYPH_TOO_LARGE
                x = randint(state, 0, SCENE_SIZE - w + 1)
                y = randint(state, 0, SCENE_SIZE - h + 1)
                placed += 1
                _paste_scene(buffer, left, top, w, h, x, y, r, g, b, placed, scene, instances)
                _record(table, placed - 1, other, other_drawer + 1, r, g, b, x, y, w, h)
            next_double(state)  # the original's "empty scene" test, always drawn
            ok, left, top, w, h, r, g, b = _render(
                state, glyphs[char, drawer], bounds[char, drawer], MAX_SCALE, buffer, scratch
            )
            while not ok and not pre_fix:  # after the fix: only the augmentation is redrawn
                ok, left, top, w, h, r, g, b = _render(
                    state, glyphs[char, drawer], bounds[char, drawer], MAX_SCALE, buffer, scratch
                )
            if ok:
                break
        if w > SCENE_SIZE or h > SCENE_SIZE:
            return GLYPH_TOO_LARGE
        x = randint(state, 0, SCENE_SIZE - w + 1)
        y = randint(state, 0, SCENE_SIZE - h + 1)
        _paste_scene(buffer, left, top, w, h, x, y, r, g, b, level, scene, instances)
        _record(table, level - 1, char, drawer + 1, r, g, b, x, y, w, h)
        for j in range(h):
            for i in range(w):
                if buffer[top + j, left + i]:
                    masks[s][y + j, x + i] = True
        while True:
            ok, left, top, w, h, r, g, b = _render(
                state, glyphs[char, drawer], bounds[char, drawer], 1.0, buffer, scratch
            )
            if ok:
                break
        _paste_target(buffer, left, top, w, h, r, g, b, targets[s])
        if per_sample:
            _visible_stats(instances, table)
    return OK
