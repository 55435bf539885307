"""Generator speed: the compiled canonical kernel, the paths users call, and a Pillow loop.

Run: ``python -m pytest benchmarks/bench_generator.py --benchmark-columns=median,rounds``.
Each group puts ours and the naive reference side by side on the same job, one core each
(the kernel runs single-threaded here); ``extra_info`` carries scenes per second, and the run
ends with every rate as a ratio to the Pillow loop measured in the same run (benchmarks/
conftest.py). The Pillow loop is about 2.5x faster than the authors' own code, so a ratio to the
authors' is this ratio times 2.5 (reference-spec appendix: 145 and 19 scenes/s per core at
levels 32 and 256 for the authors' code on the reference machine).
"""

from __future__ import annotations

import os
import resource
import statistics
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


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _measure(benchmark, fn, args, rounds: int, samples: int, rates, key, **kwargs) -> None:
    """Benchmark ``fn`` (wall clock, pytest-benchmark's table) and record its rate in CPU time.

    Every path here runs on one core, so CPU time equals wall time on a quiet machine and stays
    fair on a machine shared with other jobs; the same-run ratios use it.
    """
    cpu: list[float] = []

    def timed() -> None:
        started = _cpu_seconds()
        fn(*args, **kwargs)
        cpu.append(_cpu_seconds() - started)

    benchmark.pedantic(timed, rounds=rounds)
    _rate(benchmark, samples)
    rates[key] = samples / statistics.median(cpu)
    benchmark.extra_info["scenes_per_cpu_s"] = round(rates[key], 1)


@pytest.mark.parametrize("level", sorted(KERNEL_SAMPLES))
def bench_canonical_kernel(benchmark, real_glyphs, level, rates) -> None:
    benchmark.group = f"canonical generator, level {level}, one core"
    spec = _job(real_glyphs, level)
    n = KERNEL_SAMPLES[level]
    generate_run(real_glyphs.packed, spec, 2)  # compiled code loaded before timing
    _measure(benchmark, generate_run, (real_glyphs.packed, spec, n), 5, n, rates,
             ("bare kernel", level))  # fmt: skip


@pytest.mark.parametrize("level", sorted(KERNEL_SAMPLES))
def bench_split_get(benchmark, real_glyphs, level, rates) -> None:
    """``load_split(...).get(0, N)``: what a user calls, written in place by the kernel."""
    benchmark.group = f"canonical generator, level {level}, one core"
    split = load_split("test-one-shot", level, glyphs=real_glyphs)
    n = KERNEL_SAMPLES[level]
    split.get(0, 2, workers=1)
    _measure(benchmark, split.get, (0, n), 5, n, rates, ("Split.get", level), workers=1)


@pytest.mark.parametrize("level", sorted(PIL_SAMPLES))
def bench_pil_loop(benchmark, real_glyphs, level, rates) -> None:
    benchmark.group = f"canonical generator, level {level}, one core"
    spec = _job(real_glyphs, level)
    images = glyph_images(real_glyphs.packed, spec.pool)
    n = PIL_SAMPLES[level]
    _measure(benchmark, reference_job, (images, spec, n), 3, n, rates, ("Pillow loop", level))


@pytest.mark.parametrize("backend", ["kernel", "torch"])
def bench_training_stream_cpu(benchmark, real_glyphs, backend) -> None:
    benchmark.group = "training stream, level 32, batch 250, CPU"
    stream = TrainingStream(32, 250, seed=0, glyphs=real_glyphs, backend=backend)
    stream.batch(0)
    steps = iter(range(1, 1000))
    benchmark.pedantic(lambda: stream.batch(next(steps)), rounds=3)
    _rate(benchmark, 250)


EXPORT_SAMPLES = {32: 10_000, 256: 2_000}


def _export_command(level: int, out, stop: int) -> list[str]:
    from tests.conftest import require_real_omniglot

    return [
        "taskset", "-c", "0", sys.executable, "-m", "oneshotbench", "data", "export",
        "--level", str(level), "--split", "test-one-shot", "--out", str(out), "--stop", str(stop),
        "--workers", "1", "--omniglot", str(require_real_omniglot()),
    ]  # fmt: skip


def _run(command: list[str]) -> None:
    env = {**os.environ, "COLUMNS": "120"}
    subprocess.run(command, check=True, capture_output=True, env=env)


@pytest.mark.parametrize("level", sorted(EXPORT_SAMPLES))
def bench_export_one_core(benchmark, tmp_path, level, rates) -> None:
    """As a user sees it: process start, imports, compiled-code cache, generation, file writing
    (the authors' three arrays, memory-mapped)."""
    n = EXPORT_SAMPLES[level]
    benchmark.group = f"canonical generator, level {level}, one core"
    command = _export_command(level, tmp_path / "out", n)
    _run(command)  # warm caches once
    _measure(benchmark, _run, (command,), 2, n, rates, ("data export, whole process", level))


def bench_export_one_sample(benchmark, tmp_path) -> None:
    """Start-up: ``data export`` of one sample in a fresh process, warm caches, one core."""
    benchmark.group = "data export of one sample, fresh process, one core"
    command = _export_command(32, tmp_path / "out", 1)
    _run(command)
    per_process: dict[str, float] = {}
    _measure(benchmark, _run, (command,), 7, 1, per_process, "one sample")
    benchmark.extra_info["cpu_s"] = round(1 / per_process["one sample"], 3)


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
