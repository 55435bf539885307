"""Generator speed: the compiled canonical kernel vs a straightforward per-glyph PIL loop.

Run: ``python -m pytest benchmarks/bench_generator.py --benchmark-columns=median,rounds``.
Each group puts ours and the naive reference side by side on the same job, one core each
(the kernel runs single-threaded here); ``extra_info`` carries scenes per second. The anchor
for the authors' original code on the reference machine: 145 and 19 scenes/s per core at
levels 32 and 256 (reference-spec appendix).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from oneshotbench.datasets import TrainingStream, load_split
from oneshotbench.generator.jobs import generate_run
from oneshotbench.generator.reference import glyph_images, reference_job

KERNEL_SAMPLES = {4: 4000, 32: 1000, 256: 200}
PIL_SAMPLES = {4: 400, 32: 60, 256: 8}


def _job(real_glyphs, level):
    return load_split("test-one-shot", level, glyphs=real_glyphs).job_spec(0)


def _rate(benchmark, samples: int) -> None:
    benchmark.extra_info["scenes_per_s"] = round(samples / benchmark.stats.stats.median, 1)


@pytest.mark.parametrize("level", sorted(KERNEL_SAMPLES))
def bench_canonical_kernel(benchmark, real_glyphs, level) -> None:
    benchmark.group = f"canonical generator, level {level}, one core"
    spec = _job(real_glyphs, level)
    n = KERNEL_SAMPLES[level]
    generate_run(real_glyphs.packed, spec, 2)  # compiled code loaded before timing
    benchmark.pedantic(generate_run, args=(real_glyphs.packed, spec, n), rounds=5)
    _rate(benchmark, n)


@pytest.mark.parametrize("level", sorted(PIL_SAMPLES))
def bench_pil_loop(benchmark, real_glyphs, level) -> None:
    benchmark.group = f"canonical generator, level {level}, one core"
    spec = _job(real_glyphs, level)
    images = glyph_images(real_glyphs.packed, spec.pool)
    n = PIL_SAMPLES[level]
    benchmark.pedantic(reference_job, args=(images, spec, n), rounds=3)
    _rate(benchmark, n)


@pytest.mark.parametrize("backend", ["kernel", "torch"])
def bench_training_stream_cpu(benchmark, real_glyphs, backend) -> None:
    benchmark.group = "training stream, level 32, batch 250, CPU"
    stream = TrainingStream(32, 250, seed=0, glyphs=real_glyphs, backend=backend)
    stream.batch(0)
    steps = iter(range(1, 1000))
    benchmark.pedantic(lambda: stream.batch(next(steps)), rounds=3)
    _rate(benchmark, 250)


def bench_export_10000_level_32_one_core(benchmark, tmp_path) -> None:
    """As a user sees it: process start, imports, compiled-code cache, generation, file writing."""
    benchmark.group = "data export --level 32 (10,000 samples), one core"
    from tests.conftest import require_real_omniglot

    command = [
        "taskset", "-c", "0", sys.executable, "-m", "oneshotbench", "data", "export",
        "--level", "32", "--split", "test-one-shot", "--out", str(tmp_path / "out"),
        "--workers", "1", "--omniglot", str(require_real_omniglot()),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "120"}
    subprocess.run(command, check=True, capture_output=True, env=env)  # warm caches once
    benchmark.pedantic(
        subprocess.run, args=(command,), kwargs={"check": True, "capture_output": True, "env": env},
        rounds=2,
    )  # fmt: skip
    _rate(benchmark, 10_000)


def bench_all_seven_test_one_shot_splits(benchmark, real_glyphs) -> None:
    """The paper's whole evaluation data, 70,000 samples, on every usable core."""
    benchmark.group = "seven test-one-shot splits, all cores"

    def regenerate() -> float:
        started = time.perf_counter()
        for level in (4, 8, 16, 32, 64, 128, 256):
            split = load_split("test-one-shot", level, glyphs=real_glyphs)
            for _ in split.iter_chunks(0, len(split), 2500):
                pass
        return time.perf_counter() - started

    benchmark.pedantic(regenerate, rounds=1)
    benchmark.extra_info["cores"] = len(os.sched_getaffinity(0))
    _rate(benchmark, 70_000)
