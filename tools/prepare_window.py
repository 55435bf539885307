#!/usr/bin/env python3
"""Prepare what a GPU window needs, then print the command to run there.

    python tools/prepare_window.py [--wheel NAME==VERSION ...]

* copies the two Omniglot release zips (14 MB) into ``.window/omniglot/`` (ignored by git, named
  in the run's ``carry``), from ``$ONESHOTBENCH_OMNIGLOT`` or the cache's downloaded zips;
* downloads CPython 3.12 manylinux wheels of any ``--wheel`` into ``.window/wheels/`` (the GPU
  image has torch, numpy, scipy, pandas, matplotlib, numba, typer, rich, safetensors and pytest;
  pooch and platformdirs are imported only where the window never goes, so none is needed now);
* checks that the tracked tree plus ``.window/`` stays under the 64 MiB a run may carry;
* prints the window command (``tools/gpu_window.py``) with the environment it needs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = ROOT / ".window"
ZIPS = ("images_background.zip", "images_evaluation.zip")
LIMIT = 64 * 2**20
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def find_zips() -> Path:
    """The folder holding both release zips."""
    sys.path.insert(0, str(ROOT))
    from oneshotbench.cache import cache_root

    candidates = (
        [Path(os.environ["ONESHOTBENCH_OMNIGLOT"])] if "ONESHOTBENCH_OMNIGLOT" in os.environ else []
    )
    candidates.append(cache_root() / "omniglot")
    for folder in candidates:
        if all((folder / name).is_file() for name in ZIPS):
            return folder
    raise SystemExit(
        f"no folder with {' and '.join(ZIPS)} among {', '.join(map(str, candidates))}: "
        "run `oneshotbench data fetch` or set ONESHOTBENCH_OMNIGLOT"
    )


def tracked_bytes() -> int:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return sum(
        (ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file()
    )


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def carry_bubblewrap() -> Path | None:
    """This machine's bwrap and the libraries it needs beyond glibc, behind a wrapper script.

    The GPU image has no bubblewrap and no package manager reaches it, so the window's
    ``evaluate --device cuda`` would fall back to no sandbox; with bwrap on PATH it runs the
    submission in the sandbox on the GPU (issue: the sandbox's GPU check).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None
    home = WINDOW / "bubblewrap"
    (home / "lib").mkdir(parents=True, exist_ok=True)
    shutil.copy2(bwrap, home / "bwrap")
    listing = subprocess.run(["ldd", bwrap], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and not parts[0].startswith(("libc.", "ld-")):
            shutil.copy2(parts[2], home / "lib" / parts[0])
    wrapper = WINDOW / "bin" / "bwrap"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(
        '#!/bin/sh\nhere="$(dirname "$(readlink -f "$0")")/../bubblewrap"\n'
        'LD_LIBRARY_PATH="$here/lib" exec "$here/bwrap" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", action="append", default=[], help="NAME==VERSION to carry")
    parser.add_argument("--item", default="W0", help="plan item for the printed command")
    parser.add_argument("--deadline", type=int, default=480, help="seconds for the window command")
    args = parser.parse_args(argv)

    source = find_zips()
    target = WINDOW / "omniglot"
    target.mkdir(parents=True, exist_ok=True)
    for name in ZIPS:
        if (
            not (target / name).is_file()
            or (target / name).stat().st_size != (source / name).stat().st_size
        ):
            shutil.copy2(source / name, target / name)
    print(f"Omniglot zips: {source} -> {target}")
    wheels = WINDOW / "wheels"
    if args.wheel:
        wheels.mkdir(parents=True, exist_ok=True)
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.12", "--implementation", "cp", *platforms,
             "-d", str(wheels), *args.wheel],
            check=True,
        )  # fmt: skip
    sandbox = carry_bubblewrap()
    print(f"bubblewrap for the sandbox check: {sandbox or 'not installed here, not carried'}")
    size = tracked_bytes() + folder_bytes(WINDOW)
    print(f"tracked tree + .window: {size / 2**20:.1f} MiB (limit {LIMIT / 2**20:.0f} MiB)")
    if size > LIMIT:
        print("too large to carry: remove wheels or untracked files", file=sys.stderr)
        return 1
    install = ""
    if wheels.is_dir() and any(wheels.iterdir()):
        install = (
            "python3 -m pip install -q --no-index --no-deps --target /tmp/site .window/wheels/*.whl"
            " && export PYTHONPATH=/tmp/site; "
        )
    path = "export PATH=$PWD/.window/bin:$PATH; " if (WINDOW / "bin" / "bwrap").is_file() else ""
    command = (
        f"{install}{path}export ONESHOTBENCH_OMNIGLOT=.window/omniglot ONESHOTBENCH_CACHE=/tmp/osb "
        f"PYTHONUNBUFFERED=1; python3 tools/gpu_window.py {args.item} "
        f"--deadline {args.deadline} --out $OUT 2>&1"
    )
    print("device run: carry ['.window'], timeout_s", args.deadline + 60)
    print(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
