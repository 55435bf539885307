"""A straightforward per-glyph Pillow loop with the authors' semantics.

This is the *naive reference*: slow, obviously faithful to the original ``dataset_utils.py`` (one
PIL affine transform, resize, crop, colour and paste per glyph, numpy's legacy global-style
``RandomState`` for every draw), and independent of the compiled kernel in
:mod:`oneshotbench.generator.canonical`. Tests prove the kernel bit-identical to it, and
benchmarks measure the kernel's speed against it.

``job.pre_fix`` runs the authors' code as it was before their 5 September 2018 fix (dataset
version 0): the distractor count is ``choice(level - 1)``, a failed distractor is skipped, and a
failed scene target restarts the whole scene (the ``continue`` of the original's outer loop).

The one deliberate deviation from running the original on today's Pillow is the 2018 stack's
handling of a zero-width/height crop (reference-spec §2.6): three colour draws are made and the
glyph is retried. Today's Pillow would paste an empty glyph instead, which does not reproduce the
published data.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from oneshotbench.generator.spec import (
    MAX_ROTATION,
    MAX_SCALE,
    MAX_SHEAR,
    SCENE_SIZE,
    SOURCE_SIZE,
    TARGET_SIZE,
    JobSpec,
)


class _Retry(Exception):
    """The glyph could not be rendered; the caller redraws as the original's retry loop did."""


def _warp(glyph: Image.Image, rs: np.random.RandomState, scale: float) -> Image.Image:
    phi = np.radians(rs.uniform(-MAX_ROTATION, MAX_ROTATION))
    theta = np.radians(rs.uniform(-MAX_SHEAR, MAX_SHEAR))
    a = scale ** rs.uniform(-1, 1)
    b = scale ** rs.uniform(-1, 1)
    width, height = glyph.size
    x, y = a * width, b * height
    cpt, spt = np.cos(phi + theta), np.sin(phi + theta)
    cmt, smt = np.cos(phi - theta), np.sin(phi - theta)
    xs = [cpt * 0 + smt * 0, cpt * 0 + smt * y, cpt * x + smt * 0, cpt * x + smt * y]
    ys = [-spt * 0 + cmt * 0, -spt * 0 + cmt * y, -spt * x + cmt * 0, -spt * x + cmt * y]
    mnx, mxx, mny, mxy = min(xs), max(xs), min(ys), max(ys)
    forward = np.array(
        [[a * cpt, b * smt, -mnx], [-a * spt, b * cmt, -mny], [0, 0, 1]], dtype=np.float64
    )
    inverse = np.linalg.inv(forward)
    warped = glyph.transform(
        (int(mxx - mnx), int(mxy - mny)), Image.AFFINE, data=inverse[:2, :].flatten()
    )
    return warped.resize((int(32 * (mxx - mnx) / 105), int(32 * (mxy - mny) / 105)))


def _crop(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image)
    rows = np.flatnonzero(pixels.any(axis=1))
    cols = np.flatnonzero(pixels.any(axis=0))
    if rows.size == 0:
        raise _Retry  # the original's bounding-box scan runs off the end: IndexError, retried
    # The authors' PIL box (m, k, n, l) excludes the last stroke column and row.
    return image.crop((cols[0], rows[0], cols[-1], rows[-1]))


def _colour(image: Image.Image, rs: np.random.RandomState) -> tuple[Image.Image, Image.Image]:
    """Return (coloured RGBA glyph, its stroke mask); the 2018 stack retried empty crops."""
    rgb = rs.random_sample(3)
    if image.size[0] == 0 or image.size[1] == 0:
        raise _Retry  # colour drawn, then indexing the 0-d array failed (reference-spec §2.6)
    stroke = np.asarray(image)
    rgba = np.zeros(stroke.shape + (4,), dtype=np.uint8)
    rgba[stroke, :3] = (255 * rgb).astype(np.uint8)
    rgba[stroke, 3] = 255
    return Image.fromarray(rgba, "RGBA"), image


def _render(glyph: Image.Image, rs: np.random.RandomState, scale: float):
    return _colour(_crop(_warp(glyph, rs, scale)), rs)


def _render_retried(glyph: Image.Image, rs: np.random.RandomState, scale: float):
    while True:
        try:
            return _render(glyph, rs, scale)
        except _Retry:
            continue


def _position(rs: np.random.RandomState, size: tuple[int, int]) -> tuple[int, int]:
    x = rs.randint(0, SCENE_SIZE - size[0] + 1)
    y = rs.randint(0, SCENE_SIZE - size[1] + 1)
    return x, y


def _distractors(scene, glyphs, job: JobSpec, count: int, rs: np.random.RandomState) -> None:
    """Paste ``count`` distractors; a failed one is redrawn, or before the fix skipped."""
    n_chars = len(glyphs)
    placed = attempts = 0
    while placed < count and (not job.pre_fix or attempts < count):
        attempts += 1
        other = glyphs[rs.randint(0, n_chars)][rs.randint(job.drawer_low, job.drawer_high)]
        try:
            coloured, _ = _render(other, rs, MAX_SCALE)
        except _Retry:
            continue
        scene.paste(coloured, _position(rs, coloured.size), mask=coloured)
        placed += 1


def reference_job(
    glyphs: list[list[Image.Image]], job: JobSpec, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``count`` samples of a job: scenes, masks and targets (as the original saves).

    ``glyphs[c][d]`` is the 105x105 mode-"1" image of pool character ``c``, drawer ``d``.
    """
    rs = np.random.RandomState(job.seed)
    n_chars = len(glyphs)
    scenes = np.zeros((count, SCENE_SIZE, SCENE_SIZE, 3), np.uint8)
    masks = np.zeros((count, SCENE_SIZE, SCENE_SIZE), bool)
    targets = np.zeros((count, TARGET_SIZE, TARGET_SIZE, 3), np.uint8)
    for i in range(count):
        glyph = glyphs[rs.randint(0, n_chars)][rs.randint(job.drawer_low, job.drawer_high)]
        # Before the fix: n_distractors = np.random.choice(DISTRACTORS) with an int argument.
        distractors = rs.choice(job.level - 1) if job.pre_fix else job.level - 1
        while True:  # the original's scene loop: a failed pre-fix target restarts the scene
            scene = Image.new("RGBA", (SCENE_SIZE, SCENE_SIZE), (0, 0, 0, 255))
            _distractors(scene, glyphs, job, distractors, rs)
            rs.random_sample()  # the original's "empty scene" test, always drawn
            try:  # after the fix the target has its own retry loop
                render = _render if job.pre_fix else _render_retried
                coloured, stroke = render(glyph, rs, MAX_SCALE)
                break
            except _Retry:
                continue  # before the fix: the original's outer loop starts the scene over
        corner = _position(rs, coloured.size)
        scene.paste(coloured, corner, mask=coloured)
        seg = Image.new("1", (SCENE_SIZE, SCENE_SIZE), 0)
        seg.paste(stroke, corner, mask=stroke)
        coloured, _ = _render_retried(glyph, rs, 1)
        target = Image.new("RGBA", (TARGET_SIZE, TARGET_SIZE), (0, 0, 0, 255))
        corner = ((TARGET_SIZE - coloured.size[0]) // 2, (TARGET_SIZE - coloured.size[1]) // 2)
        target.paste(coloured, corner, mask=coloured)
        scenes[i] = np.asarray(scene.convert("RGB"))
        masks[i] = np.asarray(seg) != 0  # PIL's mode-1 bytes are 0/255; keep canonical bools
        targets[i] = np.asarray(target.convert("RGB"))
    return scenes, masks, targets


def glyph_images(packed: np.ndarray, pool: np.ndarray) -> list[list[Image.Image]]:
    """Mode-"1" PIL images of a pool's characters, from bit-packed bitmaps [C,20,105,14]."""
    bits = np.unpackbits(packed[pool], axis=-1)[..., :SOURCE_SIZE].astype(bool)
    return [[Image.fromarray(drawer) for drawer in char] for char in bits]
