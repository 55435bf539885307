"""Start-up: a one-sample ``data export``, whole process, JIT kernel vs ahead-of-time kernel.

Run: ``python benchmarks/bench_export_start.py [--rounds 9] [--level 32]`` with
``$ONESHOTBENCH_OMNIGLOT`` and ``$ONESHOTBENCH_CACHE`` set. It first runs ``oneshotbench data
warm`` (glyph cache, numba's cache, the compiled module), then times, interleaved round by round
so that a shared machine's load hits both alike:

* ``python -c pass``: the interpreter alone, as a yardstick of the machine's state;
* ``JIT``: ``data export --stop 1`` with ``ONESHOTBENCH_AOT=0`` (the module is ignored, so the
  process loads numba and its cached kernel, as it does without ``data warm``'s module);
* ``AOT``: the same command using the compiled module (numba is never imported);
* ``AOT, no .pyc``: the same with ``PYTHONDONTWRITEBYTECODE=1`` and no bytecode cache, so every
  project module is compiled from source on every start (some environments set this; a normal
  installation has its ``.pyc`` files).

The other paths keep their bytecode in a temporary ``PYTHONPYCACHEPREFIX`` (the working tree is
not written). Wall time per process (start to exit) and its CPU time (user + system: less
sensitive to a shared machine's load); prints medians, minima and the ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def _wall(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--level", type=int, default=32)
    parser.add_argument("--split", default="test-one-shot")
    args = parser.parse_args()

    python = sys.executable
    subprocess.run([python, "-m", "oneshotbench", "data", "warm"], check=True)
    out = tempfile.mkdtemp(prefix="export-start-")
    export = [python, "-m", "oneshotbench", "data", "export", "--level", str(args.level),
              "--split", args.split, "--stop", "1", "--out", out]  # fmt: skip
    cached = {"PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="pycache-")}
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    paths = {
        "python -c pass": ([python, "-c", "pass"], cached),
        "JIT (ONESHOTBENCH_AOT=0)": (export, {**cached, "ONESHOTBENCH_AOT": "0"}),
        "AOT (data warm's module)": (export, {**cached, "ONESHOTBENCH_AOT": "1"}),
        "AOT, no .pyc": (export, {"ONESHOTBENCH_AOT": "1", "PYTHONDONTWRITEBYTECODE": "1"}),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for command, extra in paths.values():  # one untimed run each: disk and bytecode caches
        _wall(command, {**base, **extra})
    for _ in range(args.rounds):
        for name, (command, extra) in paths.items():
            times[name].append(_wall(command, {**base, **extra}))

    print(f"\none-sample data export, level {args.level}, {args.split}: wall seconds per "
          f"process, {args.rounds} interleaved rounds, {os.cpu_count()} CPUs")  # fmt: skip
    for name, values in times.items():
        wall, cpu = ([v[i] for v in values] for i in (0, 1))
        print(f"  {name:<26} wall median {statistics.median(wall):.3f} min {min(wall):.3f}  "
              f"CPU median {statistics.median(cpu):.3f}  "
              f"wall all {' '.join(f'{v:.2f}' for v in wall)}")  # fmt: skip
    jit, aot = (statistics.median(v[0] for v in times[name]) for name in list(paths)[1:3])
    print(f"  AOT / JIT (wall medians): {aot / jit:.2f}")


if __name__ == "__main__":
    main()
