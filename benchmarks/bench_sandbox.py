"""What the sandbox costs: start-up of bubblewrap, and a default evaluation with and without it.

    pytest benchmarks/bench_sandbox.py -s --benchmark-group-by=group
    ONESHOTBENCH_BENCH_SANDBOX_SAMPLES=1000 pytest benchmarks/bench_sandbox.py -s   # quicker

``test_startup`` times starting an empty sandbox (bwrap with the evaluation's layout running
``/bin/true``, memory group included; goal under 0.5 s). ``test_default_evaluation`` scores a
trivial submission on the real test split, all seven levels, alternating ``--sandbox none`` and
``bubblewrap`` (none, bubblewrap, none, bubblewrap, ...) and reports the median of the paired
ratios (goal: at most 5 % more).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from oneshotbench import sandbox
from oneshotbench.runner import PAPER_LEVELS, evaluate

SAMPLES = int(os.environ.get("ONESHOTBENCH_BENCH_SANDBOX_SAMPLES", "10000"))
PAIRS = 2
TRIVIAL = """
def make_predictor(device):
    def predict(targets, scenes):
        return (scenes.mean(1) * 2).clamp(max=1)
    return predict
"""

pytestmark = pytest.mark.skipif(
    sandbox.probe_bubblewrap() is not None, reason=f"no sandbox: {sandbox.probe_bubblewrap()}"
)


@pytest.mark.benchmark(group="sandbox")
def test_startup(benchmark, tmp_path):
    layout = sandbox.Layout((*sandbox.python_paths(), tmp_path), workdir=tmp_path)

    def start() -> int:
        started = sandbox.launch(
            ["/bin/true"],
            mode="bubblewrap",
            layout=layout,
            env=sandbox.worker_env(sandboxed=True),
            memory_limit=2**30,
            stdout=sys.stderr.fileno(),
            pass_fds=(),
        )
        code = started.proc.wait()
        started.kill()
        return code

    assert benchmark.pedantic(start, rounds=20, iterations=1) == 0
    print(f"\nsandbox start-up: median {benchmark.stats.stats.median * 1000:.0f} ms")


def test_default_evaluation(tmp_path):
    submission = tmp_path / "trivial.py"
    submission.write_text(TRIVIAL)
    times: dict[str, list[float]] = {"none": [], "bubblewrap": []}
    ious: dict[str, list] = {"none": [], "bubblewrap": []}
    for pair in range(PAIRS):
        for mode in ("none", "bubblewrap"):
            began = time.perf_counter()
            record = evaluate(
                submission,
                levels=PAPER_LEVELS,
                samples=SAMPLES,
                out=tmp_path / f"{mode}-{pair}.json",
                progress=False,
                sandbox=mode,
            )
            times[mode].append(time.perf_counter() - began)
            ious[mode].append([lv["iou"] for lv in record["levels"]])
            assert record["sandbox"] == mode
    ratios = [b / n - 1 for n, b in zip(times["none"], times["bubblewrap"], strict=True)]
    overhead = float(np.median(ratios))
    print(
        f"\ndefault evaluation, {SAMPLES} samples x {len(PAPER_LEVELS)} levels: none "
        f"{times['none']} s, bubblewrap {times['bubblewrap']} s; sandbox overhead (median of "
        f"{PAIRS} interleaved pairs): {overhead:+.1%}"
    )
    assert ious["none"] == ious["bubblewrap"]  # the sandbox changes no score
