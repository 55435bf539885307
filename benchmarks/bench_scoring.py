"""Scoring throughput: float32 probabilities + bool ground truth -> IoU and localisation hits.

Run: ``pytest benchmarks/bench_scoring.py --benchmark-columns=median,mean,rounds``; each case
reports ``masks_per_s`` in its extra info (goal: >= 50,000 masks/s on one core). The naive
reference scores one sample at a time in numpy, as a straightforward port of the paper's code would.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from oneshotbench.metrics import PAPER_THRESHOLD, SegmentationScores

BATCH, SIZE = 250, 96


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(BATCH, SIZE, SIZE, generator=gen) < 0.05
    probs = (torch.rand(BATCH, SIZE, SIZE, generator=gen) * 0.5 + gt * 0.5).to(torch.float32)
    return torch.arange(BATCH), probs, gt


def naive_scores(probs: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample numpy reference of the paper's IoU and localisation hit."""
    ious, hits = np.empty(len(probs)), np.empty(len(probs), dtype=bool)
    threshold = np.float32(PAPER_THRESHOLD)
    for b in range(len(probs)):
        pred = probs[b] > threshold
        inter = np.count_nonzero(pred & gt[b])
        union = np.count_nonzero(pred | gt[b])
        ious[b] = inter / union if union else 1.0
        centres = []
        for mask in (pred, gt[b]):
            rows, cols = np.nonzero(mask)
            centres.append(
                (np.floor(cols.mean()), np.floor(rows.mean())) if rows.size else (-1.0, -1.0)
            )
        hits[b] = np.hypot(centres[0][0] - centres[1][0], centres[0][1] - centres[1][1]) < 5
    return ious, hits


def report(benchmark, result) -> None:
    """Throughput from the median round (robust to other work on a shared machine)."""
    benchmark.extra_info["masks_per_s"] = round(BATCH / benchmark.stats.stats.median)
    benchmark.extra_info["mean_iou"] = float(np.mean(result[0]))


def test_scoring_torch(benchmark, batch) -> None:
    index, probs, gt = batch

    def run():
        scorer = SegmentationScores()
        scorer.update(index, probs, gt)
        scores = scorer.compute()
        return scores.iou, scores.hit

    result = benchmark(run)
    report(benchmark, result)
    reference = naive_scores(probs.numpy(), gt.numpy())
    np.testing.assert_array_equal(result[0], reference[0])
    np.testing.assert_array_equal(result[1], reference[1])


def test_scoring_naive_numpy(benchmark, batch) -> None:
    _, probs, gt = batch
    result = benchmark.pedantic(naive_scores, (probs.numpy(), gt.numpy()), rounds=3)
    report(benchmark, result)
