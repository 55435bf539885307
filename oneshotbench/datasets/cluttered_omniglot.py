"""The cluttered-Omniglot dataset definitions (facts of the authors' release, reference-spec §2).

Version 1 is the official release: the authors' generator after their September 2018 fix, with
their seeds, pools, drawer ranges, sizes and the MD5 digests they published.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

import numpy as np

from oneshotbench.datasets.registry import Registry
from oneshotbench.errors import DataError, LookupFailure
from oneshotbench.generator.spec import JOB_LENGTH

LEVELS = (4, 8, 16, 32, 64, 128, 256)
TRAIN_DRAWERS = (0, 10)  # files _01.._10
HELD_OUT_DRAWERS = (10, 20)  # files _11.._20

# Character pools (reference-spec §1): the 30 background alphabets, and the sorted evaluation
# alphabets cut in two halves (first 10 for validation, last 10 for test).
POOLS = ("background", "evaluation-first-half", "evaluation-second-half")


@dataclass(frozen=True)
class SplitDef:
    """One split of the release: which characters, which drawers, how many samples, which seed."""

    name: str
    pool: str
    drawers: tuple[int, int]
    size: int
    master_seed: int
    description: str
    official_md5: dict[int, str] = field(default_factory=dict)  # level -> MD5 of the last scene

    @property
    def n_jobs(self) -> int:
        return self.size // JOB_LENGTH


@dataclass(frozen=True)
class DatasetDef:
    """A named, versioned dataset: splits, levels and the committed fingerprints."""

    name: str
    version: int
    description: str
    splits: dict[str, SplitDef]
    levels: tuple[int, ...]
    registry_stem: str  # file stem under datasets/registry_data/

    def split(self, name: str) -> SplitDef:
        try:
            return self.splits[name]
        except KeyError:
            raise LookupFailure(
                f"unknown split {name!r} of {self.label}; known: {', '.join(self.splits)}"
            ) from None

    def check_level(self, level: int) -> int:
        if level not in self.levels:
            known = ", ".join(map(str, self.levels))
            raise LookupFailure(f"unknown clutter level {level} of {self.label}; known: {known}")
        return level

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @cached_property
    def registry(self) -> RegistryData:
        return RegistryData.load(self.registry_stem)


@dataclass(frozen=True)
class RegistryData:
    """Committed per-split facts: SHA-256 fingerprints, word offsets and per-sample checksums.

    ``fingerprints[split][level]`` holds ``jobs`` (SHA-256 of each covered 2,000-sample job),
    ``fingerprint`` (SHA-256 over the job digests) and ``samples`` (how many samples are covered:
    the whole split for evaluation splits, the first job for the training split).
    """

    fingerprints: dict
    arrays: Mapping[str, np.ndarray]

    @classmethod
    def load(cls, stem: str) -> RegistryData:
        folder = resources.files("oneshotbench.datasets") / "registry_data"
        try:
            fingerprints = json.loads((folder / f"{stem}.json").read_text())
            arrays = _NpzMembers(folder / f"{stem}.npz", stem)
        except FileNotFoundError:
            return cls({}, {})  # a dataset without committed data yet (e.g. while building it)
        except (OSError, ValueError) as err:
            raise DataError(f"committed registry data {stem} is unreadable: {err}") from err
        return cls(fingerprints, arrays)

    def entry(self, split: str, level: int) -> dict | None:
        return self.fingerprints.get(split, {}).get(str(level))

    def word_offsets(self, split: str, level: int) -> np.ndarray | None:
        """Each covered sample's word offset inside its job (uint32), or None if not committed."""
        return self.arrays.get(f"offsets/{split}/{level}")

    def sample_checksums(self, split: str, level: int) -> np.ndarray | None:
        return self.arrays.get(f"crc32/{split}/{level}")


class _NpzMembers(Mapping[str, np.ndarray]):
    """The arrays of a committed ``.npz``, each read on first use: a start needs one of 70."""

    def __init__(self, source, stem: str) -> None:
        self._source, self._stem = source, stem
        self._lock = threading.Lock()
        self._read: dict[str, np.ndarray] = {}
        with source.open("rb") as fh, np.load(fh) as npz:
            self._names = tuple(npz.files)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._names:
            raise KeyError(key)
        with self._lock:
            if key not in self._read:
                try:
                    with self._source.open("rb") as fh, np.load(fh) as npz:
                        self._read[key] = npz[key]
                except (OSError, ValueError) as err:
                    message = f"committed registry data {self._stem} is unreadable: {err}"
                    raise DataError(message) from err
            return self._read[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _official(split: str) -> SplitDef:
    """The splits of version 1; digests from the authors' notebook (reference-spec §2.11)."""
    md5 = {
        "val-train": (
            "8c999e5c4a9a8131672e6542a0b3f266 0c590ff42387323a32e11252cf957268 "
            "327d08f3e1b1b1b5ed8905f163ed795e 81338976c8bdc1368d4ec55a9e533d79 "
            "1119485a052df341e8e60f9f140acb17 8a114f8035b6cff04cafad93bf262fb2 "
            "73ff5a4fc16a877fbf1f6af25dc99f14"
        ),
        "test-train": (
            "3bf805b2766b2321f9adb988d10a0fba 927fa33e400c6caa96d7adba4f6addac "
            "8b733e95a86e394e77f04583f87e2bf2 6fd4e0618a800fba325f06ff45edf96e "
            "56500ccfa0ef075f855ba70c4c2a7ca2 c8d136fab21668d8a368f58ea7009076 "
            "44be0e5a25b2165aea18531d2136d077"
        ),
        "val-one-shot": (
            "c684f499183c637882ebed2abbca128b b96dc0bd4e38f20f6b6b8c264e88e2b0 "
            "de38a604df713cf0052661004542c942 3a05e203fb858418c5188164d956b95b "
            "280fba2c0c982b85a96ed0611be07003 05d2d93454e1bbb633909e58d809fcb9 "
            "fb5ae42406d8384a99fa0b2a92dda3a8"
        ),
        "test-one-shot": (
            "d38c880d4ddf53704ba7f2660a3f0ead 4df18d0de6f5ba0952e3ccd291f29681 "
            "bf877579ec90bf209a96789ed977d394 cc96e14490baeda3ff1cd7d7dfe4d041 "
            "57f4c7ed1966c53066b3b3c880f0da90 656c85dafc77cee0f59cb72076c64a3d "
            "7aee40640f7de8d3f3adf7e8c95dfb62"
        ),
    }
    rows = {
        "train": ("background", TRAIN_DRAWERS, 2_000_000, 2209944264,
                  "training set: 30 background alphabets, drawers 1-10"),
        "val-train": ("background", HELD_OUT_DRAWERS, 10_000, 4020197800,
                      "validation on training characters, unseen drawers 11-20"),
        "test-train": ("background", HELD_OUT_DRAWERS, 10_000, 1665765955,
                       "test on training characters, unseen drawers 11-20"),
        "val-one-shot": ("evaluation-first-half", HELD_OUT_DRAWERS, 10_000, 3755213170,
                         "one-shot validation: first 10 evaluation alphabets"),
        "test-one-shot": ("evaluation-second-half", HELD_OUT_DRAWERS, 10_000, 2301871561,
                          "one-shot test (the paper's tables): last 10 evaluation alphabets"),
    }  # fmt: skip
    pool, drawers, size, seed, description = rows[split]
    digests = dict(zip(LEVELS, md5[split].split(), strict=True)) if split in md5 else {}
    return SplitDef(split, pool, drawers, size, seed, description, digests)


SPLIT_NAMES = ("train", "val-train", "test-train", "val-one-shot", "test-one-shot")

CLUTTERED_OMNIGLOT_V1 = DatasetDef(
    name="cluttered-omniglot",
    version=1,
    description="The official cluttered Omniglot release (Michaelis et al. 2018), bit-exact.",
    splits={name: _official(name) for name in SPLIT_NAMES},
    levels=LEVELS,
    registry_stem="cluttered-omniglot-v1",
)

DATASETS: Registry[dict[int, DatasetDef]] = Registry("dataset")
DATASETS.register("cluttered-omniglot")({1: CLUTTERED_OMNIGLOT_V1})


def get_dataset(name: str = "cluttered-omniglot", version: int | None = None) -> DatasetDef:
    """Look up a dataset by name and version (default: the latest version)."""
    versions = DATASETS.get(name)
    chosen = max(versions) if version is None else version
    if chosen not in versions:
        known = ", ".join(map(str, sorted(versions)))
        raise LookupFailure(f"unknown version {version} of dataset {name!r}; known: {known}")
    return versions[chosen]


def list_datasets() -> list[DatasetDef]:
    return [ds for name in DATASETS.names() for _, ds in sorted(DATASETS.get(name).items())]
