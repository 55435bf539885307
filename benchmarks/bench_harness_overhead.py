"""Harness overhead: ``evaluate`` vs calling the same predictor in-process.

Both sides score the same pre-generated batches (data generation excluded) of one clutter level
with the same metric code — per-sample scores and the per-level summary with bootstrap CIs — at
batch 250 on the CPU. The difference is what the harness adds: a fresh worker process, moving
pixels and probabilities through shared memory, output validation, the batch journal and the
record. The predictor is a few conv layers, about 1 ms per sample on a CPU.

    pytest benchmarks/bench_harness_overhead.py --benchmark-group-by=group
    ONESHOTBENCH_BENCH_SAMPLES=2000 pytest benchmarks/bench_harness_overhead.py   # quicker

``test_evaluate`` also runs the in-process variant (untimed) before each of its rounds and
reports the median paired overhead in ``extra_info`` and on stdout with ``-s`` (goal: under 10 %).
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from oneshotbench.metrics import SegmentationScores
from oneshotbench.protocol import load_submission, to_model_input
from oneshotbench.records import summarize_level
from oneshotbench.runner import N_RESAMPLES, evaluate

N = int(os.environ.get("ONESHOTBENCH_BENCH_SAMPLES", "10000"))
BATCH = 250
LEVEL = 4
ROUNDS = 3

SMALL_CONV = '''
    """A few conv layers: about 1 ms per sample on a CPU."""
    import torch
    from torch import nn

    class SmallConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.target = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                        nn.AdaptiveAvgPool2d(1))
            self.scene = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                       nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
            self.head = nn.Conv2d(8, 1, 1)

        def forward(self, targets, scenes):
            features = self.scene(scenes) * self.target(targets)
            return torch.sigmoid(self.head(features)).squeeze(1)

    def make_predictor(device):
        torch.manual_seed(0)
        return SmallConv().to(device).eval()
    '''


class ArraySplit:
    """Pre-generated random batches: get() is a slice, so data generation costs nothing."""

    fingerprint = "benchmark"
    info = {"dataset": "benchmark", "version": 1}

    def __init__(self, n: int):
        rng = np.random.default_rng(0)
        self.scene = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
        self.target = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.mask = rng.random((n, 96, 96)) < 0.01

    def __len__(self) -> int:
        return len(self.scene)

    def get(self, start: int, stop: int) -> SimpleNamespace:
        return SimpleNamespace(
            index=np.arange(start, stop),
            scene=self.scene[start:stop],
            target=self.target[start:stop],
            mask=self.mask[start:stop],
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, ArraySplit]:
    folder = tmp_path_factory.mktemp("harness")
    submission = folder / "small_conv.py"
    submission.write_text(textwrap.dedent(SMALL_CONV))
    return submission, ArraySplit(N)


def in_process(submission: Path, split: ArraySplit) -> float:
    """The same work without the harness: predict and score each batch, then summarise."""
    predict = load_submission(submission).make_predictor(torch.device("cpu"))
    scores = SegmentationScores()
    with torch.no_grad():
        for start in range(0, len(split), BATCH):
            batch = split.get(start, min(start + BATCH, len(split)))
            probs = predict(
                to_model_input(torch.from_numpy(batch.target), torch.device("cpu")),
                to_model_input(torch.from_numpy(batch.scene), torch.device("cpu")),
            )
            scores.update(torch.from_numpy(batch.index), probs, torch.from_numpy(batch.mask))
    return summarize_level(LEVEL, scores.compute(), bootstrap_seed=0, wall_s=1.0).iou


def harness(submission: Path, split: ArraySplit) -> float:
    record = evaluate(
        submission, levels=(LEVEL,), batch_size=BATCH, progress=False,
        out=submission.with_name("record.json"), open_split=lambda *args: split,
    )  # fmt: skip
    return record["levels"][0]["iou"]


@pytest.mark.benchmark(group="harness-overhead")
def test_in_process(benchmark, setup):
    result = benchmark.pedantic(in_process, args=setup, rounds=ROUNDS, iterations=1)
    benchmark.extra_info.update(samples=N, batch=BATCH, n_resamples=N_RESAMPLES)
    assert 0 <= result <= 100


@pytest.mark.benchmark(group="harness-overhead")
def test_evaluate(benchmark, setup):
    """Each timed round is preceded by an untimed in-process run; the overhead is the median of
    the paired ratios, so a change of machine load between rounds does not bias it."""
    baseline: list[float] = []
    in_process_iou: list[float] = []

    def paired_baseline() -> None:
        start = time.perf_counter()
        in_process_iou.append(in_process(*setup))
        baseline.append(time.perf_counter() - start)

    result = benchmark.pedantic(
        harness, args=setup, setup=paired_baseline, rounds=ROUNDS, iterations=1
    )
    ratios = [t / b - 1 for t, b in zip(benchmark.stats.stats.data, baseline, strict=True)]
    overhead = float(np.median(ratios))
    benchmark.extra_info.update(
        samples=N,
        batch=BATCH,
        n_resamples=N_RESAMPLES,
        in_process_s=baseline,
        overhead_vs_in_process=round(overhead, 4),
    )
    print(f"\nharness overhead vs in-process (median of {ROUNDS} paired rounds): {overhead:+.1%}")
    assert result == pytest.approx(in_process_iou[-1])  # same scores through the harness
