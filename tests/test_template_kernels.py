"""The compiled template matcher against the torch matrix-product path it replaces on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oneshotbench.datasets import load_split
from reference_models import template_kernels
from reference_models.template_matching import (
    TemplateMatcher,
    cosine,
    make_templates,
    pixel_major_templates,
)


def scenes(glyphs, level: int, count: int, version: int = 1):
    data = load_split("test-one-shot", level, glyphs=glyphs, version=version).get(0, count)
    for target, instance_map in zip(data.target, data.instance_map, strict=True):
        yield (
            torch.from_numpy(target).permute(2, 0, 1).float() / 255,
            torch.from_numpy(instance_map.astype("int64")),
        )


@pytest.mark.parametrize(("level", "version"), [(4, 1), (32, 1), (64, 0)])
def test_compiled_scores_equal_the_matrix_product_bit_for_bit(real_glyphs, level, version):
    matchers = [TemplateMatcher(), TemplateMatcher(normalized=False)]
    for target, instance_map in scenes(real_glyphs, level, 3, version):
        for matcher in matchers:
            fast = matcher._sparse_scores(target, instance_map, level)
            dense = matcher._dense_scores(target, instance_map, level)
            assert torch.equal(fast, dense)
            assert matcher.scores(target, instance_map, level).equal(fast)  # the CPU default


def test_pixel_major_templates_are_the_warped_targets(real_glyphs) -> None:
    matcher = TemplateMatcher()
    for target, _ in scenes(real_glyphs, 4, 2):
        mask = matcher._target_mask(target)
        dense = make_templates(mask, matcher.grid, 36).flatten(1)
        fast = pixel_major_templates(mask, matcher.grid, 36)
        assert fast.dtype == np.uint8 and np.array_equal(fast.T, dense.numpy().astype(np.uint8))
    empty = pixel_major_templates(torch.zeros(32, 32, dtype=torch.bool), matcher.grid, 36)
    assert empty.shape == (36 * 36, 9317) and not empty.any()


def test_window_masses_are_window_sums() -> None:
    rng = np.random.default_rng(0)
    size, crop, radius = 9, 5, 2
    templates = (rng.random((size * size, 37)) < 0.4).astype(np.uint8)
    masses = template_kernels.window_masses(templates, size, crop, radius)
    images = templates.T.reshape(37, size, size).astype(np.int64)
    side = 2 * radius + 1
    for y0 in range(side):
        for x0 in range(side):
            expected = images[:, y0 : y0 + crop, x0 : x0 + crop].sum(axis=(1, 2))
            assert np.array_equal(masses[y0 * side + x0], expected)


def test_more_lit_pixels_than_one_pass_holds() -> None:
    """Rows are summed four at a time, then one by one: every count of lit pixels lands."""
    rng = np.random.default_rng(1)
    size, radius = 8, 1
    templates = (rng.random((size * size, 3000)) < 0.5).astype(np.uint8)  # two blocks
    masses = template_kernels.window_masses(templates, size, size - 2 * radius, radius)
    for lit_count in (0, 1, 3, 4, 5, 9, 36):
        lit = np.sort(rng.choice(36, lit_count, replace=False))
        lit = (lit // 6) * size + lit % 6  # pixels of the 6 x 6 crop at zero shift
        starts = np.array([0, lit_count])
        mass = np.array([lit_count], np.float32)
        raw = template_kernels.best_matches(templates, masses, lit, starts, mass, size, 1, False)
        dots = [
            templates[lit + (s // 3) * size + s % 3].astype(np.int64).sum(axis=0) for s in range(9)
        ]
        assert raw[0] == max(d.max() for d in dots)


def test_cosine_rounds_its_square_root_correctly() -> None:
    """torch's float32 sqrt is one unit off on some CPUs; the score must not depend on that."""
    value = cosine(torch.tensor([25.0]), torch.tensor([55.0]), torch.tensor([43.0]))
    assert value.item() == np.float32(25) / np.sqrt(np.float32(55 * 43))
