"""Maintainer tool: regenerate whole splits with the naive Pillow loop and compare the committed
SHA-256 job digests (which the compiled kernel produced).

    python tools/crosscheck_reference.py --splits test-one-shot --levels 4,8,16 [--omniglot PATH]

Slow by design (the Pillow loop runs at the original's speed); it is independent evidence that
the committed fingerprints are the authors' data, not just self-consistent.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

import numpy as np

from oneshotbench.datasets import get_dataset, load_split
from oneshotbench.generator.reference import glyph_images, reference_job
from oneshotbench.generator.spec import JOB_LENGTH
from oneshotbench.omniglot import load_omniglot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default="test-one-shot")
    parser.add_argument("--levels", default="4,8,16")
    parser.add_argument("--omniglot", default=None)
    args = parser.parse_args()
    glyphs = load_omniglot(args.omniglot)
    dataset = get_dataset()
    failures = 0
    for name in args.splits.split(","):
        for level in map(int, args.levels.split(",")):
            split = load_split(name, level, glyphs=glyphs)
            committed = dataset.registry.entry(name, level)
            images = glyph_images(glyphs.packed, split.pool)
            started = time.perf_counter()
            for job, expected in enumerate(committed["jobs"]):
                scenes, masks, targets = reference_job(images, split.job_spec(job), JOB_LENGTH)
                hasher = hashlib.sha256()
                for i in range(JOB_LENGTH):
                    for part in (scenes[i], masks[i].astype(np.uint8), targets[i]):
                        hasher.update(np.ascontiguousarray(part).data)
                ok = hasher.hexdigest() == expected
                failures += not ok
                print(f"{name} L{level} job {job}: {'ok' if ok else 'MISMATCH'}", flush=True)
            print(f"{name} L{level}: {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
