"""Where the canonical kernel's time goes: pixels touched per scene and nanoseconds per pixel.

Run: ``python benchmarks/kernel_anatomy.py [--glyphs 20000]`` (one core; CPU time). It times

* the whole kernel on the first samples of a test-one-shot job at levels 4, 32 and 256;
* the warp + resize alone (:func:`~oneshotbench.generator.canonical.warp_and_resize`) on random
  glyphs drawn with the generator's distributions (rotation, shear, scales), in a compiled loop;
* the paste alone over the same glyphs' crops,

and prints pixels per glyph, ns per pixel and each part's share of a scene. The per-scene parts
(zeroing the outputs, the per-glyph statistics pass, the RNG) are what remains.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from oneshotbench.datasets import load_split
from oneshotbench.generator.canonical import (
    GLYPH_BUFFER,
    SCRATCH,
    _paste_scene,
    stroke_box,
    warp_and_resize,
)
from oneshotbench.generator.jobs import generate_run, glyph_bounds
from oneshotbench.generator.spec import (
    MAX_ROTATION,
    MAX_SCALE,
    MAX_SHEAR,
    SCENE_SIZE,
    T_H,
    T_W,
    UNKNOWN_BOUNDS,
)


@njit(nogil=True)
def _warp_many(glyphs, bounds, chars, drawers, params, crops):
    """Warp + resize every glyph; return the canvas pixels computed (width x height)."""
    out = np.zeros((GLYPH_BUFFER, GLYPH_BUFFER), np.uint8)
    scratch = np.zeros((3, SCRATCH), np.int64)
    canvas = 0
    for k in range(len(chars)):
        box = bounds[chars[k], drawers[k]]
        if box[0] == UNKNOWN_BOUNDS:
            stroke_box(glyphs[chars[k], drawers[k]], box)
        phi, theta, a, b = params[k]
        width, height, left, top, right, bottom = warp_and_resize(
            glyphs[chars[k], drawers[k]], phi, theta, a, b, out, scratch, box
        )
        canvas += width * height
        crops[k, 0], crops[k, 1] = right - left, bottom - top
    return canvas


@njit(nogil=True)
def _paste_many(crops, repeats):
    buffer = np.ones((GLYPH_BUFFER, GLYPH_BUFFER), np.uint8)
    scene = np.zeros((SCENE_SIZE, SCENE_SIZE, 3), np.uint8)
    instances = np.zeros((SCENE_SIZE, SCENE_SIZE), np.int16)
    for _ in range(repeats):
        for k in range(len(crops)):
            w, h = min(crops[k, 0], SCENE_SIZE), min(crops[k, 1], SCENE_SIZE)
            if w > 0 and h > 0:
                _paste_scene(buffer, 0, 0, w, h, 0, 0, 1, 2, 3, k, scene, instances)


def _cpu(fn, *args, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glyphs", type=int, default=20_000, help="random glyphs to warp")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    split = load_split("test-one-shot", 32)
    packed, pool = split.glyphs.packed, split.pool
    n = args.glyphs
    chars = pool[rng.integers(0, len(pool), n)]
    drawers = rng.integers(10, 20, n)
    params = np.stack(
        [
            np.radians(rng.uniform(-MAX_ROTATION, MAX_ROTATION, n)),
            np.radians(rng.uniform(-MAX_SHEAR, MAX_SHEAR, n)),
            MAX_SCALE ** rng.uniform(-1, 1, n),
            MAX_SCALE ** rng.uniform(-1, 1, n),
        ],
        axis=1,
    )
    crops = np.zeros((n, 2), np.int64)
    bounds = glyph_bounds(packed)
    canvas = _warp_many(packed, bounds, chars[:2], drawers[:2], params[:2], crops[:2])  # compile
    warp_s = _cpu(_warp_many, packed, bounds, chars, drawers, params, crops)
    canvas = _warp_many(packed, bounds, chars, drawers, params, crops)
    crop_px = int(np.clip(crops, 0, SCENE_SIZE).prod(axis=1).sum())
    _paste_many(crops[:2], 1)
    paste_s = _cpu(_paste_many, crops, 10) / 10
    warp_ns_glyph = warp_s / n * 1e9
    paste_ns_glyph = paste_s / n * 1e9
    print(f"warp + resize: {canvas / n:,.0f} canvas px/glyph, {warp_ns_glyph:,.0f} ns/glyph, "
          f"{warp_s / canvas * 1e9:.2f} ns/px")  # fmt: skip
    print(f"paste:         {crop_px / n:,.0f} crop px/glyph,   {paste_ns_glyph:,.0f} ns/glyph, "
          f"{paste_s / crop_px * 1e9:.2f} ns/px")  # fmt: skip
    print()
    print("level  scenes/s  µs/scene  renders/scene  px touched/scene  ns/px  warp  paste  rest")
    for level, count in ((4, 4000), (32, 1000), (256, 150)):
        spec = load_split("test-one-shot", level, glyphs=split.glyphs).job_spec(0)
        generate_run(packed, spec, 2)
        scene_s = _cpu(generate_run, packed, spec, count) / count
        table = generate_run(packed, spec, count).table
        pasted = float((table[..., T_W].astype(np.int64) * table[..., T_H]).sum(axis=1).mean())
        renders = level + 1  # clutter, the scene's target, the target image (retries are rare)
        warp = renders * warp_ns_glyph * 1e-9
        paste = pasted * paste_s / crop_px
        touched = renders * canvas / n + pasted + 3 * SCENE_SIZE * SCENE_SIZE
        print(f"{level:>5} {1 / scene_s:>9,.0f} {scene_s * 1e6:>9.1f} {renders:>14} "
              f"{touched:>17,.0f} {scene_s / touched * 1e9:>6.2f} {warp / scene_s:>5.0%} "
              f"{paste / scene_s:>6.0%} {1 - (warp + paste) / scene_s:>5.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
