"""SHA-256 fingerprints over every sample, and the authors' MD5 digests.

A sample's record is its scene bytes, its mask as uint8 0/1, and its target bytes (C order).
A job digest is the SHA-256 of its samples' records in order; a split's fingerprint is the
SHA-256 of its job digests. Per-sample CRC-32 values locate a wrong sample inside a failed job.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from oneshotbench.datasets.split import Split
from oneshotbench.generator.jobs import GeneratedSamples, Run, generate_runs
from oneshotbench.generator.spec import JOB_LENGTH

GROUP = 2 * JOB_LENGTH  # samples generated per step: two jobs keep two cores busy


@dataclass
class SplitDigest:
    """What the registry commits for the first ``samples`` samples of a split."""

    jobs: list[str]
    samples: int
    offsets: np.ndarray  # uint32 [samples], word offset inside the job
    crc32: np.ndarray  # uint32 [samples]

    @property
    def fingerprint(self) -> str:
        return combine(self.jobs)


def combine(job_digests: list[str]) -> str:
    return hashlib.sha256("".join(job_digests).encode()).hexdigest()


def sample_records(raw: GeneratedSamples):
    """Yield each sample's record as three buffers (scene, mask as uint8, target)."""
    masks = raw.mask.astype(np.uint8)  # 0/1 whatever bytes the bools were stored with
    for i in range(len(raw)):
        yield raw.scene[i].data, masks[i].data, raw.target[i].data


def digest_split(
    split: Split,
    samples: int,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> SplitDigest:
    """Regenerate the first ``samples`` samples (whole jobs) and digest them."""
    if samples % JOB_LENGTH:
        raise ValueError("fingerprints cover whole jobs")
    jobs: list[str] = []
    offsets = np.zeros(samples, np.uint32)
    crcs = np.zeros(samples, np.uint32)
    for first in range(0, samples, GROUP):
        raw = split.raw(first, min(first + GROUP, samples), workers=workers, on_done=on_done)
        offsets[first : first + len(raw)] = raw.offset
        for job_start in range(0, len(raw), JOB_LENGTH):
            hasher = hashlib.sha256()
            job = raw.view(job_start, job_start + JOB_LENGTH)
            for i, parts in enumerate(sample_records(job)):
                crc = 0
                for part in parts:
                    hasher.update(part)
                    crc = zlib.crc32(part, crc)
                crcs[first + job_start + i] = crc
            jobs.append(hasher.hexdigest())
    return SplitDigest(jobs, samples, offsets, crcs)


@dataclass
class VerifyResult:
    """The outcome of checking one split and level."""

    split: str
    level: int
    kind: str  # "fingerprint" or "official"
    ok: bool
    expected: str
    actual: str
    bad_samples: list[int] = field(default_factory=list)  # located by per-sample checksums


def verify_fingerprint(split: Split, **kwargs) -> VerifyResult:
    """Compare a split's regenerated samples with the committed fingerprint."""
    entry = split.dataset.registry.entry(split.name, split.level)
    if entry is None:
        raise LookupError(f"nothing committed for {split.name} level {split.level}")
    digest = digest_split(split, entry["samples"], **kwargs)
    expected_crc = split.dataset.registry.sample_checksums(split.name, split.level)
    bad = [] if expected_crc is None else np.flatnonzero(digest.crc32 != expected_crc).tolist()
    ok = digest.jobs == entry["jobs"]
    if not ok and not bad:  # a CRC collision is astronomically unlikely; name the jobs instead
        bad = [
            j * JOB_LENGTH
            for j, (a, b) in enumerate(zip(digest.jobs, entry["jobs"], strict=True))
            if a != b
        ]
    return VerifyResult(
        split.name, split.level, "fingerprint", ok, entry["fingerprint"], digest.fingerprint, bad
    )


def last_scene_md5(split: Split, *, on_done: Callable[[int], None] | None = None) -> str:
    """MD5 of the split's last scene, regenerated from its job seed without any shortcut."""
    last_job = split.definition.n_jobs - 1
    raw = generate_runs(
        split.glyphs.packed,
        [Run(split.job_spec(last_job), 0, JOB_LENGTH, 0)],
        JOB_LENGTH,
        split.level,
        workers=1,
        on_done=on_done,
    )
    return hashlib.md5(np.ascontiguousarray(raw.scene[-1]).tobytes()).hexdigest()


def verify_official(split: Split, **kwargs) -> VerifyResult:
    """Check the authors' published MD5 of the split's last scene image."""
    expected = split.definition.official_md5[split.level]
    actual = last_scene_md5(split, **kwargs)
    return VerifyResult(split.name, split.level, "official", actual == expected, expected, actual)
