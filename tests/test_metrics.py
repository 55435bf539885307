"""Paper-exact metrics: golden hand-computed cases, cross-checks and batching invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torchmetrics.functional.classification import binary_jaccard_index

from oneshotbench.metrics import (
    IOU_PAPER,
    LOC_PAPER,
    LOC_STRICT,
    PAPER_THRESHOLD,
    PerSampleScores,
    SegmentationScores,
    _com_from_moments,
    binarize,
    center_of_mass,
    floor_locations,
    iou,
    localization_hits,
    localization_hits_strict,
)


def masks(*pixel_lists: list[tuple[int, int]], size: int = 8) -> torch.Tensor:
    """Bool masks [B,size,size] with the given (row, col) pixels set."""
    out = torch.zeros(len(pixel_lists), size, size, dtype=torch.bool)
    for b, pixels in enumerate(pixel_lists):
        for row, col in pixels:
            out[b, row, col] = True
    return out


def f32_above(value: float) -> float:
    return float(np.nextafter(np.float32(value), np.float32(1)))


# --- binarisation --------------------------------------------------------------------------------

F32_THRESHOLD = float(np.float32(PAPER_THRESHOLD))  # 0.30000001192092896


def test_binarize_float32_tie_is_background() -> None:
    probs = torch.tensor([0.0, np.float32(0.3), f32_above(0.3), 1.0], dtype=torch.float32)
    assert binarize(probs).tolist() == [False, False, True, True]


def test_binarize_float64_casts_to_float32_first() -> None:
    just_above = F32_THRESHOLD + 1e-12  # above float32(0.3) in float64, rounds onto it in float32
    assert just_above > F32_THRESHOLD and np.float32(just_above) == np.float32(0.3)
    values = [0.3, 0.3 + 1e-10, F32_THRESHOLD, just_above, f32_above(0.3), 0.9]
    probs = torch.tensor(values, dtype=torch.float64)
    assert binarize(probs).tolist() == [False, False, False, False, True, True]


def test_binarize_float16() -> None:
    # float16 has no value at float32(0.3): its nearest, 0.30004883, lies above it -> foreground
    nearest = np.float16(0.3)
    below = np.nextafter(nearest, np.float16(0))  # 0.29980469
    probs = torch.tensor([float(below), float(nearest)], dtype=torch.float16)
    assert float(nearest) > F32_THRESHOLD
    assert binarize(probs).tolist() == [False, True]


def test_binarize_bool_passes_through_and_threshold_is_a_parameter() -> None:
    hard = torch.tensor([True, False])
    assert binarize(hard) is hard
    probs = torch.tensor([0.4, 0.5, 0.6])
    assert binarize(probs, threshold=0.5).tolist() == [False, False, True]


# --- IoU -----------------------------------------------------------------------------------------


def test_iou_golden_cases() -> None:
    everything = [(r, c) for r in range(8) for c in range(8)]
    corner = [(0, 0), (0, 7), (7, 0), (7, 7)]
    pred = masks([(1, 1), (1, 2)], [], [(3, 3)], [], everything, corner, corner)
    gt = masks([(1, 2), (1, 3), (2, 3)], [(0, 0)], [], [], [(4, 4), (5, 5)], corner, [(7, 7)])
    expected = [1 / 4, 0.0, 0.0, 1.0, 2 / 64, 1.0, 1 / 4]
    result = iou(pred, gt)
    assert result.dtype == torch.float64
    assert result.tolist() == expected


def test_iou_matches_torchmetrics_binary_jaccard_per_sample() -> None:
    gen = torch.Generator().manual_seed(1)
    density = torch.rand(64, 1, 1, generator=gen) * 0.2
    probs = torch.rand(64, 96, 96, generator=gen) * (torch.rand(64, 1, 1, generator=gen) > 0.1)
    gt = torch.rand(64, 96, 96, generator=gen) < density
    gt[:3] = False  # empty ground truth; sample 0-1 also get an empty prediction
    probs[:2] = 0.0
    ours = iou(binarize(probs), gt)
    for b in range(64):
        # torchmetrics pools everything it is given, so it is called per sample; its default
        # zero_division is 0, the paper scores an empty union as 1
        reference = binary_jaccard_index(probs[b], gt[b].long(), threshold=PAPER_THRESHOLD)
        union = (binarize(probs[b]) | gt[b]).any()
        expected = float(reference) if union else 1.0
        assert ours[b].item() == pytest.approx(expected, abs=1e-6), b
    assert ours[:2].tolist() == [1.0, 1.0]


# --- centre of mass ------------------------------------------------------------------------------


def test_center_of_mass_golden_cases() -> None:
    full = [(r, c) for r in range(8) for c in range(8)]
    cases = masks(
        [(2, 5)],  # single pixel -> itself, as (x=col, y=row)
        [(0, 0), (0, 1)],  # x = 0.5 -> 0
        [(3, 1), (3, 3)],  # x = 2 exactly stays 2
        [(1, 6), (2, 6), (4, 6)],  # y = 7/3 -> 2
        [],  # empty -> (-1, -1)
        [(7, 7)],  # border pixel
        full,  # 3.5, 3.5 -> 3, 3
        [(0, 0), (7, 7)],  # opposite corners: 3.5 -> 3
    )
    expected = [[5, 2], [0, 0], [2, 3], [6, 2], [-1, -1], [7, 7], [3, 3], [3, 3]]
    com = center_of_mass(cases)
    assert com.dtype == torch.int64
    assert com.tolist() == expected


def test_center_of_mass_at_and_just_below_integers() -> None:
    mask = torch.zeros(3, 96, 96, dtype=torch.bool)
    mask[0, :95, 5] = True  # x = (95*5 + 4) / 96 = 4.9896 -> 4; y = (sum 0..94 + 95) / 96 = 47.5
    mask[0, 95, 4] = True
    mask[1, :20, 40:61] = True  # 420 px, x = 50 exactly, y = 9.5
    mask[2] = mask[1]
    mask[2, 0, 60] = False  # move one pixel one column left: x = 50 - 1/420 = 49.998 -> 49
    mask[2, 20, 59] = True  # y = (3990 + 20) / 420 = 9.55 -> 9
    assert center_of_mass(mask).tolist() == [[4, 47], [50, 9], [49, 9]]


def test_paper_float32_formula_equals_exact_floor_for_every_96px_mask() -> None:
    """The authors' (sum + 1e-5) // (count - 1e-5) in float32 never differs from the exact floor.

    The formula is monotone in the sum, so it suffices to check, for every pixel count N of a
    96x96 mask and every integer k < 96, the sums k*N (must give k) and k*N - 1 (must give k-1).
    """
    count = torch.arange(1, 96 * 96 + 1, dtype=torch.int64)[:, None]
    k = torch.arange(96, dtype=torch.int64)[None, :]
    for total in (k * count, (k * count - 1).clamp(min=0)):
        n, s = torch.broadcast_tensors(count, total)
        moments = torch.stack([n.flatten(), s.flatten(), s.flatten()], dim=1)
        com = _com_from_moments(moments)
        assert torch.equal(com[:, 0], s.flatten() // n.flatten())
    assert _com_from_moments(torch.zeros(1, 3, dtype=torch.int64)).tolist() == [[-1, -1]]


def test_center_of_mass_matches_scipy_ndimage_floored() -> None:
    gen = torch.Generator().manual_seed(2)
    mask = torch.rand(40, 96, 96, generator=gen) < torch.rand(40, 1, 1, generator=gen) * 0.05
    mask[0] = False
    mask[0, 10:14, 90:96] = True  # touching the right border
    com = center_of_mass(mask)
    for b in range(40):
        row, col = ndimage.center_of_mass(mask[b].numpy())
        assert com[b].tolist() == [int(np.floor(col)), int(np.floor(row))]


# --- localisation --------------------------------------------------------------------------------


def test_localization_hits_strictly_below_five_pixels() -> None:
    pred = torch.tensor([[0, 0], [0, 0], [10, 10], [-1, -1], [-1, -1], [2, 2], [-1, -1]])
    gt = torch.tensor([[3, 4], [3, 3], [10, 14], [-1, -1], [2, 2], [-1, -1], [50, 50]])
    assert localization_hits(pred, gt).tolist() == [False, True, True, True, True, True, False]
    strict = localization_hits_strict(pred, gt, (96, 96))
    assert strict.tolist() == [False, True, True, False, False, False, False]
    # a ground-truth centre outside the 96x96 image is not a location either
    outside = localization_hits_strict(torch.tensor([[95, 95]]), torch.tensor([[95, 96]]), (96, 96))
    assert outside.tolist() == [False]
    # the x edge as well (a centre in column 96 is off a 96-wide image), and the last pixel row
    # and column are inside; a non-square size tells width (x) from height (y)
    x_edge = localization_hits_strict(torch.tensor([[95, 95]]), torch.tensor([[96, 95]]), (96, 96))
    assert x_edge.tolist() == [False]
    corner = localization_hits_strict(torch.tensor([[95, 95]]), torch.tensor([[95, 95]]), (96, 96))
    assert corner.tolist() == [True]
    wide = torch.tensor([[70, 10], [10, 70], [0, 0], [99, 49], [100, 49], [99, 50]])
    assert localization_hits_strict(wide, wide, (50, 100)).tolist() == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]


def test_floor_locations() -> None:
    locs = torch.tensor([[10.99, 0.0], [-0.5, 95.999], [1e30, -1e30]], dtype=torch.float32)
    assert floor_locations(locs).tolist() == [[10, 0], [-1, 95], [2**31, -(2**31)]]


def test_metric_specs_are_named_and_versioned() -> None:
    names = {spec.name for spec in (IOU_PAPER, LOC_PAPER, LOC_STRICT)}
    assert names == {"iou-paper", "localization-paper", "localization-strict"}
    assert LOC_STRICT.to_dict() == {
        "name": "localization-strict",
        "version": 1,
        "description": LOC_STRICT.description,
    }


# --- streaming scorer ----------------------------------------------------------------------------


def test_scores_edge_cases_end_to_end() -> None:
    # 0: empty prediction, target near the top-left corner (paper "hit", strict miss)
    # 1: both empty (IoU 1, paper hit, strict miss); 2: empty GT, prediction elsewhere
    # 3: perfect prediction at the border; 4: all-foreground prediction
    gt = masks([(1, 1)], [], [], [(7, 6), (7, 7)], [(4, 4)])
    probs = torch.zeros(5, 8, 8)
    probs[2, 5, 5] = 0.9
    probs[3, 7, 6:] = 0.31
    probs[4] = 1.0
    scorer = SegmentationScores()
    scorer.update(torch.tensor([4, 3, 2, 1, 0]), probs.flip(0), gt.flip(0))
    scores = scorer.compute()
    assert scores.index.tolist() == [0, 1, 2, 3, 4]
    assert scores.iou.tolist() == [0.0, 1.0, 0.0, 1.0, 1 / 64]
    assert scores.hit.tolist() == [True, True, False, True, True]  # 4: (3,3) vs (4,4)
    assert scores.hit_strict.tolist() == [False, False, False, True, True]
    assert scores.pred_x.tolist() == [-1, -1, 5, 6, 3]
    assert scores.pred_y.tolist() == [-1, -1, 5, 7, 3]


def test_submitted_locations_replace_the_mask_centre() -> None:
    gt = masks([(2, 2)], [(2, 2)], [(2, 2)])
    probs = torch.zeros(3, 8, 8)  # empty masks: the location alone decides localisation
    locs = torch.tensor([[6.9, 2.2], [7.0, 2.0], [-0.1, 2.0]])
    scorer = SegmentationScores()
    scorer.update(torch.arange(3), probs, gt, locations=locs)
    scores = scorer.compute()
    assert scores.pred_x.tolist() == [6, 7, -1]
    assert scores.hit.tolist() == [True, False, True]
    assert scores.hit_strict.tolist() == [True, False, False]
    assert scores.iou.tolist() == [0.0, 0.0, 0.0]


def random_batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, 96, 96, generator=gen) < torch.rand(n, 1, 1, generator=gen) * 0.1
    probs = torch.rand(n, 96, 96, generator=gen) * torch.rand(n, 1, 1, generator=gen) * 0.6
    probs[gt] += 0.4
    gt[::17] = False  # some empty ground truths
    probs[::13] = 0.0  # some empty predictions
    return torch.arange(1000, 1000 + n), probs.clamp(0, 1), gt


def score_in_batches(batch: int, order: torch.Tensor, data: tuple) -> PerSampleScores:
    index, probs, gt = data
    scorer = SegmentationScores()
    for start in range(0, len(order), batch):
        sel = order[start : start + batch]
        scorer.update(index[sel], probs[sel], gt[sel])
    return scorer.compute()


def test_scores_identical_for_batch_sizes_and_orders() -> None:
    data = random_batch(250, seed=3)
    reference = score_in_batches(250, torch.arange(250), data)
    assert reference.index.tolist() == list(range(1000, 1250))
    assert 0.0 < reference.iou.mean() < 1.0 and 0 < reference.hit.sum() < 250
    shuffled = torch.randperm(250, generator=torch.Generator().manual_seed(4))
    for batch in (1, 7, 250):
        scores = score_in_batches(batch, shuffled, data)
        assert scores == reference, batch
        assert scores.iou.mean() == reference.iou.mean()


def test_input_dtypes_score_alike() -> None:
    index, probs, gt = random_batch(20, seed=5)
    results = []
    for probs_in in (probs, probs.double(), binarize(probs)):
        scorer = SegmentationScores()
        scorer.update(index, probs_in, gt)
        results.append(scorer.compute())
    assert results[0] == results[1] == results[2]


def test_merge_of_shards_equals_single_run_and_rejects_duplicates() -> None:
    data = random_batch(60, seed=6)
    single = score_in_batches(60, torch.arange(60), data)
    even = score_in_batches(8, torch.arange(0, 60, 2), data)
    odd = score_in_batches(8, torch.arange(1, 60, 2), data)
    assert SegmentationScores.merge([odd, even]) == single
    with pytest.raises(ValueError, match="scored more than once: 1000, 1002"):
        PerSampleScores.merge([even, single])
    scorer = SegmentationScores()
    scorer.update(
        torch.tensor([1, 1]), torch.zeros(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool)
    )
    with pytest.raises(ValueError, match="more than once: 1"):
        scorer.compute()


def test_update_rejects_malformed_input() -> None:
    scorer = SegmentationScores()
    with pytest.raises(ValueError, match="shapes differ"):
        scorer.update(torch.arange(2), torch.zeros(2, 4, 4), torch.zeros(2, 4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        scorer.update(torch.arange(2), torch.zeros(2, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="batch size 2"):
        scorer.update(torch.arange(3), torch.zeros(2, 4, 4), torch.zeros(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="never called"):
        scorer.compute()


@pytest.mark.parametrize("shape", [(40, 96, 96), (3, 5, 9), (1, 1, 1)])
def test_the_compiled_cpu_pass_equals_the_torch_reductions(shape: tuple[int, int, int]) -> None:
    from oneshotbench.metrics import _count, _moments, _pair_moments

    g = torch.Generator().manual_seed(sum(shape))
    density = torch.rand(shape[0], 1, 1, generator=g) ** 3  # empty, sparse and dense masks
    pred = torch.rand(shape, generator=g) < density
    gt = torch.rand(shape, generator=g) < density.flip(0)
    pred[0], gt[-1] = True, False  # a full prediction and an empty ground truth
    for p, t in ((pred, gt), (pred.transpose(1, 2), gt.transpose(1, 2))):  # also non-contiguous
        fast = _pair_moments(p, t)
        reference = (_moments(p), _moments(t), _count(p & t))
        for got, expected in zip(fast, reference, strict=True):
            assert torch.equal(got, expected)
