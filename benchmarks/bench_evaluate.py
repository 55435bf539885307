"""``oneshotbench evaluate`` end to end, this checkout beside an earlier commit, same run.

The trivial all-lit submission (``submissions/all_lit.py``) over all seven levels of the one-shot
test split, so the figure is the harness's own cost: data generation, moving pixels to the
submission's process and back, scoring, glyph analysis, journal, bootstrap intervals. Each round
runs the earlier commit's ``evaluate`` (exported with ``git archive`` into a temporary folder, its
own numba cache) and then this checkout's, both as fresh processes on the same machine; the
speed-up is the median of the paired ratios. The earlier commit defaults to 4395d3c, the code of
the day issue 13 was filed.

    pytest benchmarks/bench_evaluate.py -s
    ONESHOTBENCH_BENCH_SAMPLES=2000 ONESHOTBENCH_BENCH_ROUNDS=1 \
        pytest benchmarks/bench_evaluate.py -s
    ONESHOTBENCH_BASELINE_REF=<commit> pytest benchmarks/bench_evaluate.py -s

With ``-s`` it prints the wall times, the ratio and this checkout's breakdown by stage (busy
seconds from the record's ``timing.stages``; they overlap, so they do not add up to the wall).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBMISSION = ROOT / "submissions" / "all_lit.py"
BASELINE_REF = os.environ.get("ONESHOTBENCH_BASELINE_REF", "4395d3c")
SAMPLES = os.environ.get("ONESHOTBENCH_BENCH_SAMPLES")  # default: every sample of each level
ROUNDS = int(os.environ.get("ONESHOTBENCH_BENCH_ROUNDS", "2"))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """The earlier commit's tree, exported (no worktree is registered)."""
    folder = tmp_path_factory.mktemp("baseline")
    archive = folder / "tree.tar"
    try:
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", "-o", str(archive), BASELINE_REF],
            check=True, capture_output=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"cannot export {BASELINE_REF} from git: {err}")
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def evaluate_process(code: Path, cache: Path, *args: str) -> float:
    """Wall seconds of one ``python -m oneshotbench evaluate`` process run from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "ONESHOTBENCH_CACHE": str(cache)}
    command = [sys.executable, "-m", "oneshotbench", "evaluate", str(SUBMISSION), *args]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=code)
    wall = time.perf_counter() - start
    assert done.returncode == 0, f"evaluate from {code} failed:\n{done.stderr[-3000:]}"
    return wall


def run_evaluate(code: Path, out: Path, cache: Path) -> tuple[float, dict]:
    """Wall seconds and record of a run over the seven levels."""
    if out.exists():
        out.unlink()
    wall = evaluate_process(
        code, cache, "--out", str(out), *(["--samples", SAMPLES] * bool(SAMPLES))
    )
    return wall, json.loads(out.read_text())


@pytest.mark.benchmark(group="evaluate")
def test_evaluate_against_the_earlier_commit(benchmark, baseline, tmp_path):
    caches = {"ours": tmp_path / "cache-ours", "earlier": tmp_path / "cache-earlier"}
    for cache in caches.values():  # the Omniglot glyph cache is format-compatible: share it
        cache.mkdir()
    # untimed warm-up: each side compiles its numba kernels into its own cache
    warm = ("--levels", "4", "--samples", "10", "--out", str(tmp_path / "warm.json"))
    for code, cache in ((baseline, caches["earlier"]), (ROOT, caches["ours"])):
        evaluate_process(code, cache, *warm)
    earlier: list[float] = []
    records: list[dict] = []

    def paired_earlier() -> None:
        wall, record = run_evaluate(baseline, tmp_path / "earlier.json", caches["earlier"])
        earlier.append(wall)
        records.append(record)

    def ours() -> dict:
        return run_evaluate(ROOT, tmp_path / "ours.json", caches["ours"])[1]

    record = benchmark.pedantic(ours, setup=paired_earlier, rounds=ROUNDS, iterations=1)
    walls = list(benchmark.stats.stats.data)
    speedup = float(np.median([e / o for e, o in zip(earlier, walls, strict=True)]))
    stages = record["timing"].get("stages", {})
    benchmark.extra_info.update(
        baseline_ref=BASELINE_REF,
        earlier_s=earlier,
        speedup=round(speedup, 3),
        stages=stages,
    )
    print(f"\nevaluate all_lit, levels {[lv['level'] for lv in record['levels']]}, "
          f"{sum(lv['n'] for lv in record['levels']):,} samples")  # fmt: skip
    for e, o in zip(earlier, walls, strict=True):
        print(f"  {BASELINE_REF}: {e:6.1f} s   this checkout: {o:6.1f} s   ratio {e / o:.2f}x")
    print(f"  speed-up, median of {ROUNDS} paired rounds: {speedup:.2f}x")
    print("  this checkout's busy seconds by stage (overlapping):")
    for name, seconds in stages.items():
        print(f"    {name.removesuffix('_s'):<11} {seconds:7.2f}")
    for mine, theirs in zip(record["levels"], records[-1]["levels"], strict=True):
        assert mine["iou"] == theirs["iou"] and mine["iou_ci"] == theirs["iou_ci"]  # same scores
