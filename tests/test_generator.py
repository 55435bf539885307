"""The canonical generator: numpy's RNG stream, Pillow's pixels, the authors' published digests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from oneshotbench.datasets import load_split
from oneshotbench.datasets.cluttered_omniglot import LEVELS, get_dataset
from oneshotbench.datasets.fingerprints import verify_fingerprint, verify_official
from oneshotbench.generator.canonical import (
    GLYPH_BUFFER,
    SCRATCH,
    crop_box,
    stroke_box,
    warp_and_resize,
)
from oneshotbench.generator.jobs import generate_run, job_seeds
from oneshotbench.generator.mt19937 import (
    next_double,
    next_word,
    randint,
    seeded_state,
    skip_words,
    uniform,
)
from oneshotbench.generator.reference import glyph_images, reference_job

# --- numpy's legacy RandomState, word for word ------------------------------------------------


def test_raw_words_match_numpy() -> None:
    state = seeded_state(12345)
    ours = [next_word(state) for _ in range(2000)]  # crosses several key twists
    theirs = np.random.RandomState(12345).randint(0, 2**32, size=2000, dtype=np.uint32)
    assert ours == theirs.tolist()


def test_draws_match_numpy_legacy_functions() -> None:
    state, rs = seeded_state(987654321), np.random.RandomState(987654321)
    for high in (1, 2, 3, 10, 16, 17, 307, 352, 964, 96, 2**31 + 5):
        for _ in range(50):
            assert randint(state, 0, high) == rs.randint(0, high)
        assert randint(state, 10, 20) == rs.randint(10, 20)
    for _ in range(200):
        assert next_double(state) == rs.random_sample()
        assert uniform(state, -20.0, 20.0) == rs.uniform(-20, 20)
    assert state[625] > 0  # consumed-word counter moves


def test_skipping_words_equals_drawing_them() -> None:
    drawn, skipped = seeded_state(7), seeded_state(7)
    for _ in range(5000):
        next_word(drawn)
    skip_words(skipped, 5000)
    assert np.array_equal(drawn, skipped)


def test_stroke_box(synthetic) -> None:
    box = np.zeros(4, np.int64)
    for char, drawer in [(0, 0), (5, 19), (20, 7)]:
        stroke_box(synthetic.packed[char, drawer], box)
        ys, xs = np.nonzero(synthetic.bitmap(char, drawer))
        assert box.tolist() == [xs.min(), xs.max(), ys.min(), ys.max()]
    stroke_box(np.zeros((105, 14), np.uint8), box)
    assert box[0] > box[1]


def test_job_seeds_are_the_authors() -> None:
    """Sorted, de-duplicated smallest of 2M draws (values from reference-spec §2.3)."""
    dataset = get_dataset()
    expected = {
        "val-train": [12329004, 180636300, 1183696539, 1205642807, 1314668062],
        "test-train": [733804982, 837338746, 2000025260, 2420133879, 2615932967],
        "val-one-shot": [51748417, 507007936, 1368386763, 1607005498, 1952046615],
        "test-one-shot": [763130116, 1162828645, 1630922767, 2033709317, 2311020072],
    }
    for split, seeds in expected.items():
        assert job_seeds(dataset.split(split).master_seed, 5).tolist() == seeds
    train = job_seeds(dataset.split("train").master_seed, 1000)
    assert (train[0], train[-1], len(train)) == (1949012, 2150417904, 1000)
    with pytest.raises(ValueError):
        job_seeds(0, 5)  # the original's "seed 0 means unseeded" trap is refused


# --- Pillow's own arithmetic -------------------------------------------------------------------


def _pillow_glyph(bitmap: np.ndarray, phi: float, theta: float, a: float, b: float) -> np.ndarray:
    """The authors' prepare + crop with Pillow (their code path, our parameters)."""
    image = Image.fromarray(bitmap)
    cpt, spt, cmt, smt = (
        np.cos(phi + theta),
        np.sin(phi + theta),
        np.cos(phi - theta),
        np.sin(phi - theta),
    )
    x, y = a * 105, b * 105
    xs = [0.0, smt * y, cpt * x, cpt * x + smt * y]
    ys = [0.0, cmt * y, -spt * x, -spt * x + cmt * y]
    forward = np.array([[a * cpt, b * smt, -min(xs)], [-a * spt, b * cmt, -min(ys)], [0, 0, 1]])
    inverse = np.linalg.inv(forward)
    ex, ey = max(xs) - min(xs), max(ys) - min(ys)
    warped = image.transform((int(ex), int(ey)), Image.AFFINE, data=inverse[:2].flatten())
    return np.asarray(warped.resize((int(32 * ex / 105), int(32 * ey / 105))))


def test_warp_resize_crop_equal_pillow_on_random_parameters(real_glyphs) -> None:
    rng = np.random.default_rng(2018)
    out = np.zeros((GLYPH_BUFFER, GLYPH_BUFFER), np.uint8)
    scratch = np.zeros((3, SCRATCH), np.int64)
    n = 4000
    chars = rng.integers(0, real_glyphs.packed.shape[0], n)
    drawers = rng.integers(0, 20, n)
    phis = np.radians(rng.uniform(-20, 20, n))
    thetas = np.radians(rng.uniform(-10, 10, n))
    scales = 2.0 ** rng.uniform(-1, 1, (n, 2))
    scales[: n // 4] = 1.0  # the unscaled target-image path
    phis[:8] = np.radians([-20, 20, -20, 20, 0, 0, 20, -20])  # range corners
    thetas[:8] = np.radians([-10, 10, 10, -10, 0, 10, 0, 0])
    box = np.zeros(4, np.int64)
    for i in range(n):
        bitmap = real_glyphs.bitmap(int(chars[i]), int(drawers[i]))
        stroke_box(real_glyphs.packed[chars[i], drawers[i]], box)
        a, b = float(scales[i, 0]), float(scales[i, 1])
        expected = _pillow_glyph(bitmap, float(phis[i]), float(thetas[i]), a, b)
        w, h, left, top, right, bottom = warp_and_resize(
            real_glyphs.packed[chars[i], drawers[i]],
            phis[i], thetas[i], a, b, out, scratch, box,
        )  # fmt: skip
        assert (h, w) == expected.shape, f"size differs for parameters #{i}"
        assert np.array_equal(out[:h, :w].astype(bool), expected), f"pixels differ for #{i}"
        rows, cols = np.flatnonzero(expected.any(1)), np.flatnonzero(expected.any(0))
        cropped = crop_box(left, top, right, bottom)
        pil_crop = np.asarray(
            Image.fromarray(expected).crop((cols[0], rows[0], cols[-1], rows[-1]))
        )
        assert cropped == (cols[0], rows[0], pil_crop.shape[1], pil_crop.shape[0])


# --- the compiled generator equals the straightforward PIL loop ------------------------------


@pytest.mark.parametrize(
    ("split", "level", "job", "count"),
    [
        ("train", 4, 0, 300),
        ("val-train", 8, 3, 150),
        ("val-one-shot", 16, 1, 80),
        ("test-one-shot", 32, 4, 40),
        ("test-train", 256, 2, 4),
    ],
)
def test_kernel_equals_pil_reference_loop(real_glyphs, split, level, job, count) -> None:
    spec = load_split(split, level, glyphs=real_glyphs).job_spec(job)
    fast = generate_run(real_glyphs.packed, spec, count)
    scenes, masks, targets = reference_job(glyph_images(real_glyphs.packed, spec.pool), spec, count)
    assert np.array_equal(fast.scene, scenes)
    assert np.array_equal(fast.mask, masks)
    assert np.array_equal(fast.target, targets)


# --- the authors' published digests and our full fingerprints --------------------------------

FAST_LEVELS = [level for level in LEVELS if level <= 32]


@pytest.mark.parametrize("level", FAST_LEVELS)
@pytest.mark.parametrize("split", ["val-train", "test-train", "val-one-shot", "test-one-shot"])
def test_official_md5_digest(real_glyphs, split, level) -> None:
    result = verify_official(load_split(split, level, glyphs=real_glyphs))
    assert result.ok, f"{split} L{level}: expected {result.expected}, got {result.actual}"


@pytest.mark.parametrize(
    ("split", "level"), [("test-one-shot", 4), ("val-train", 16), ("train", 8)]
)
def test_every_sample_matches_committed_fingerprint(real_glyphs, split, level) -> None:
    result = verify_fingerprint(load_split(split, level, glyphs=real_glyphs))
    assert result.ok and not result.bad_samples


def test_a_wrong_pixel_is_caught_and_located(real_glyphs, monkeypatch) -> None:
    split = load_split("test-one-shot", 4, glyphs=real_glyphs)
    original = split.raw

    def corrupted(start, stop, **kwargs):
        raw = original(start, stop, **kwargs)
        if start <= 4321 < stop:
            raw.scene[4321 - start, 50, 50, 0] ^= 1
        return raw

    monkeypatch.setattr(split, "raw", corrupted)
    result = verify_fingerprint(split)
    assert not result.ok and result.bad_samples == [4321]
