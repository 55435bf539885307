"""Same-run A/B of the canonical kernel's speed in two checkouts (e.g. before and after a change).

    git archive BASE | tar -x -C /tmp/base
    python benchmarks/ab_generator.py /tmp/base . [--rounds 6] [--version 1]

Alternates fresh processes A, B, A, B, ... (each imports ``oneshotbench`` from its own checkout,
with its own numba cache, warms up, then times the first samples of a test-one-shot job at levels
4, 32 and 256 (2,000, 2,000 and 400) three times in CPU seconds, one thread, keeping the best) and
prints scenes per CPU second per level, median over rounds, and the median over rounds of the
ratio B / A. Interleaving and CPU time keep the comparison fair on a machine shared with other
jobs; the spread (min-max of the per-round ratios) says how fair.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LEVELS = {4: 2000, 32: 2000, 256: 400}

CHILD = """
import json, sys, time
import oneshotbench
from oneshotbench.datasets import get_dataset, load_split
from oneshotbench.generator.jobs import generate_run
from oneshotbench.omniglot import load_omniglot

root, version, levels = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
assert oneshotbench.__file__.startswith(root), (oneshotbench.__file__, root)
get_dataset("cluttered-omniglot", version)  # refuses a version the checkout does not have
glyphs = load_omniglot()
rates = {}
for level, count in levels.items():
    job = load_split("test-one-shot", int(level), version=version, glyphs=glyphs).job_spec(0)
    generate_run(glyphs.packed, job, 50)  # compile or load the cache; touch the glyphs
    best = []
    for _ in range(3):
        started = time.process_time()
        generate_run(glyphs.packed, job, count)
        best.append(time.process_time() - started)
    rates[level] = count / min(best)
print(json.dumps(rates))
"""


def _run(root: Path, version: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(root), NUMBA_NUM_THREADS="1")
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    env["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"ab-generator-numba-{digest}")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(version), json.dumps(LEVELS)],
        env=env,
        cwd=root,  # "python -c" puts the working directory first on sys.path
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"the run in {root} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--version", type=int, default=1)
    args = parser.parse_args()
    roots = [args.a.resolve(), args.b.resolve()]
    rates: list[list[dict[str, float]]] = [[], []]
    for _ in range(args.rounds):
        for side, root in enumerate(roots):
            rates[side].append(_run(root, args.version))
    print("| level | A scenes/CPU-s | B scenes/CPU-s | B / A, median of rounds (min-max) |")
    print("| --- | --- | --- | --- |")
    for level in map(str, LEVELS):
        a = statistics.median(r[level] for r in rates[0])
        b = statistics.median(r[level] for r in rates[1])
        # Each round's A and B ran back to back: their ratio cancels slow drifts of the load.
        ratios = [rb[level] / ra[level] for ra, rb in zip(rates[0], rates[1], strict=True)]
        spread = f"({min(ratios):.3f}-{max(ratios):.3f})"
        print(f"| {level} | {a:,.0f} | {b:,.0f} | {statistics.median(ratios):.3f} {spread} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
