"""Maintainer tool: regenerate the committed registry data of a dataset version.

    python tools/build_registry.py [--omniglot PATH] [--version N] [--no-crc32]

Writes oneshotbench/datasets/registry_data/<stem>.json (SHA-256 per job and split) and .npz
(word offsets and CRC-32 per sample). Every evaluation split is covered entirely; the training
split's first job is covered as a fixed prefix. The authors' MD5 digests are checked on the way:
the tool refuses to write data that does not reproduce them. ``--no-crc32`` leaves out the
per-sample CRC-32 values (1.2 MB; they only locate a wrong sample inside a failed job), as for
version 0, which keeps the tracked tree small.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from oneshotbench.cache import atomic_path
from oneshotbench.datasets import get_dataset, load_split
from oneshotbench.datasets.fingerprints import digest_split, verify_official
from oneshotbench.generator.spec import JOB_LENGTH
from oneshotbench.omniglot import load_omniglot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--omniglot", default=None)
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--no-crc32", action="store_true", help="omit per-sample CRC-32 values")
    args = parser.parse_args()
    dataset = get_dataset("cluttered-omniglot", args.version)
    glyphs = load_omniglot(args.omniglot)
    fingerprints: dict = {}
    arrays: dict[str, np.ndarray] = {}
    for name, definition in dataset.splits.items():
        covered = JOB_LENGTH if name == "train" else definition.size
        for level in dataset.levels:
            split = load_split(name, level, version=args.version, glyphs=glyphs)
            started = time.perf_counter()
            if definition.official_md5:
                official = verify_official(split)
                if not official.ok:
                    print(f"{name} L{level}: MD5 mismatch {official.actual}", file=sys.stderr)
                    return 1
            digest = digest_split(split, covered)
            fingerprints.setdefault(name, {})[str(level)] = {
                "samples": covered,
                "jobs": digest.jobs,
                "fingerprint": digest.fingerprint,
            }
            arrays[f"offsets/{name}/{level}"] = digest.offsets
            if not args.no_crc32:
                arrays[f"crc32/{name}/{level}"] = digest.crc32
            seconds = time.perf_counter() - started
            print(f"{name:14s} L{level:<3d} {digest.fingerprint[:16]}  {seconds:6.1f} s")
    folder = Path(__file__).resolve().parents[1] / "oneshotbench" / "datasets" / "registry_data"
    with atomic_path(folder / f"{dataset.registry_stem}.json") as tmp:
        tmp.write_text(json.dumps(fingerprints, indent=1, sort_keys=True) + "\n")
    with atomic_path(folder / f"{dataset.registry_stem}.npz") as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main())
