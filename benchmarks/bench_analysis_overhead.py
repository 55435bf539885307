"""Cost of the glyph analysis: ``evaluate`` over all seven levels with analysis on vs off.

The submission is trivial (it predicts every lit scene pixel: no model time, and the most
predicted pixels for the analysis to count). Both variants run in the same process, interleaved
(off, on, off, on, ...), on the registry's test split with the real Omniglot, so generation,
worker start-up, scoring and record writing are included on both sides. The goal (issue 12) is a
median ratio on/off of at most 1.10.

    pytest benchmarks/bench_analysis_overhead.py -s
    ONESHOTBENCH_BENCH_SAMPLES=100 pytest benchmarks/bench_analysis_overhead.py -s   # quicker

``test_kernel`` times the analysis kernel alone on one batch of 250 samples at level 256.
"""

from __future__ import annotations

import os
import statistics
import textwrap
import time

import numpy as np
import pytest

from oneshotbench.glyph_analysis import analyze_glyphs
from oneshotbench.runner import PAPER_LEVELS, evaluate

N = int(os.environ.get("ONESHOTBENCH_BENCH_SAMPLES", "250"))
ROUNDS = int(os.environ.get("ONESHOTBENCH_BENCH_ROUNDS", "3"))

ALL_LIT = '''
    """Every lit scene pixel is foreground: trivial, and the analysis's worst case."""
    def make_predictor(device):
        return lambda targets, scenes: (scenes.amax(1) > 0).float()
    '''


@pytest.fixture(scope="module")
def omniglot() -> None:
    from oneshotbench.omniglot import load_omniglot

    try:
        load_omniglot(progress=False)
    except Exception as err:  # noqa: BLE001 — any failure means the data is not here
        pytest.skip(f"real Omniglot not available: {err}")


def test_evaluate_overhead(benchmark, omniglot, tmp_path) -> None:
    submission = tmp_path / "all_lit.py"
    submission.write_text(textwrap.dedent(ALL_LIT))

    def once(analysis: bool) -> float:
        started = time.perf_counter()
        evaluate(
            submission,
            levels=PAPER_LEVELS,
            samples=N,
            out=tmp_path / f"r-{analysis}.json",
            progress=False,
            analysis=analysis,
        )
        return time.perf_counter() - started

    once(False)  # warm the generator's caches and the split registry
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(ROUNDS):
        for analysis in (False, True):
            times[analysis].append(once(analysis))
    ratio = statistics.median(on / off for on, off in zip(times[True], times[False], strict=True))
    best = min(times[True]) / min(times[False])
    benchmark.extra_info.update(
        samples_per_level=N,
        off_s=times[False],
        on_s=times[True],
        median_ratio_on_off=ratio,
        best_ratio_on_off=best,
    )
    print(
        f"\nanalysis on/off, {N} samples x 7 levels, {ROUNDS} rounds: median of paired ratios "
        f"{ratio:.3f}, ratio of the fastest runs {best:.3f}"
    )
    print(
        f"  off: {[f'{t:.2f}' for t in times[False]]} s; on: {[f'{t:.2f}' for t in times[True]]} s"
    )
    benchmark.pedantic(lambda: None, rounds=1)


def test_kernel(benchmark, omniglot) -> None:
    from oneshotbench.datasets import load_split

    samples = load_split("test-one-shot", 256).get(0, 250)
    pred = samples.scene.max(axis=3) > 0
    args = (samples.index, pred, samples.instance_map, samples.table, samples.char_alphabet)
    result = benchmark(analyze_glyphs, *args)
    assert np.all(result["share_background"] == 0)
