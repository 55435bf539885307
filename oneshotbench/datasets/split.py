"""One split at one clutter level, generated on demand with random access."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from oneshotbench.datasets.cluttered_omniglot import DatasetDef, SplitDef, get_dataset
from oneshotbench.datasets.samples import Samples
from oneshotbench.errors import OneshotbenchError
from oneshotbench.generator.jobs import GeneratedSamples, Run, generate_runs, job_seeds
from oneshotbench.generator.spec import JOB_LENGTH, JobSpec
from oneshotbench.omniglot import CANONICAL_FINGERPRINT, GlyphSet, load_omniglot

CHUNK = 250  # samples per parallel run when offsets are known


def pool_characters(glyphs: GlyphSet, pool: str) -> np.ndarray:
    """Global character ids of a pool, in the authors' order (alphabet-major, sorted)."""
    if pool == "background":
        return np.arange(glyphs.n_background, dtype=np.int64)
    evaluation = np.arange(glyphs.n_background_alphabets, len(glyphs.alphabets))
    half = len(evaluation) // 2
    chosen = evaluation[:half] if pool == "evaluation-first-half" else evaluation[half:]
    return np.flatnonzero(np.isin(glyphs.char_alphabet, chosen)).astype(np.int64)


class Split:
    """Samples ``[0, len)`` of one split and level, produced exactly like the authors' release.

    Random access: every evaluation sample's word offset inside its job is committed in the
    registry, so one sample costs one sample's work. Where offsets are not committed (the
    training split beyond its first job, private splits) a job's offsets are computed once by
    generating it and then remembered.
    """

    def __init__(
        self,
        dataset: DatasetDef,
        split: SplitDef,
        level: int,
        glyphs: GlyphSet,
        *,
        master_seed: int | None = None,
    ) -> None:
        self.dataset = dataset
        self.definition = split
        self.level = dataset.check_level(level)
        self.glyphs = glyphs
        self.private = master_seed is not None
        self._master_seed = split.master_seed if master_seed is None else master_seed
        self.job_seeds = job_seeds(self._master_seed, split.n_jobs)
        self.pool = pool_characters(glyphs, split.pool)
        # Committed facts describe the real Omniglot only (tests may use synthetic glyphs).
        self.official = not self.private and glyphs.fingerprint == CANONICAL_FINGERPRINT
        committed = dataset.registry.word_offsets(split.name, level) if self.official else None
        self._offsets: dict[int, np.ndarray] = {}
        if committed is not None:
            for job, offsets in enumerate(np.split(committed, len(committed) // JOB_LENGTH)):
                self._offsets[job] = offsets.astype(np.int64)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.definition.size

    def __repr__(self) -> str:
        kind = "private " if self.private else ""
        return f"Split({self.dataset.label}, {kind}{self.definition.name}, level={self.level})"

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def fingerprint(self) -> str | None:
        """Identifies the exact data: the committed SHA-256 for the official splits.

        Non-canonical glyph sets get a digest of what determines their bytes. Private splits get
        none: anything derived from their 32-bit seed could be searched exhaustively, so the
        caller commits to its own (longer) secret instead, as ``evaluate`` does.
        """
        if self.private:
            return None
        if not self.official:
            key = f"{self.dataset.label}/{self.name}/{self.level}/{self.glyphs.fingerprint}"
            return hashlib.sha256(key.encode()).hexdigest()
        entry = self.dataset.registry.entry(self.name, self.level)
        if entry is None:
            raise OneshotbenchError(f"no committed fingerprint for {self.name} level {self.level}")
        return entry["fingerprint"]

    @property
    def info(self) -> dict:
        return {
            "dataset": self.dataset.name,
            "version": self.dataset.version,
            "split": self.name,
            "level": self.level,
            "size": len(self),
            "private": self.private,
            "fingerprint": self.fingerprint,
        }

    def job_spec(self, job: int) -> JobSpec:
        low, high = self.definition.drawers
        return JobSpec(self.pool, low, high, self.level, int(self.job_seeds[job]))

    # -- generation ---------------------------------------------------------------------------

    def get(
        self,
        start: int | Sequence[int] | np.ndarray,
        stop: int | None = None,
        *,
        workers: int | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> Samples:
        """Samples ``start..stop-1``, or the samples at the given indices (in that order)."""
        if stop is not None or np.isscalar(start):
            first = int(start)
            last = first + 1 if stop is None else int(stop)
            self.check_range(first, last)
            indices = np.arange(first, last, dtype=np.int64)
        else:
            indices = np.asarray(start, dtype=np.int64).reshape(-1)
            if indices.size:
                self.check_range(int(indices.min()), int(indices.max()) + 1)
        unique, inverse = np.unique(indices, return_inverse=True)
        raw = self._generate(unique, workers=workers, on_done=on_done)
        if len(unique) != len(indices) or not np.array_equal(unique, indices):
            raw = raw.view(0, len(raw))
            raw = GeneratedSamples(*(getattr(raw, f)[inverse] for f in raw.__dataclass_fields__))
        return Samples(
            index=indices,
            scene=raw.scene,
            target=raw.target,
            mask=raw.mask,
            instance_map=raw.instance_map,
            table=raw.table,
            alphabets=self.glyphs.alphabets,
            char_alphabet=self.glyphs.char_alphabet,
        )

    def raw(
        self,
        start: int,
        stop: int,
        *,
        workers: int | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> GeneratedSamples:
        """Kernel output for ``start..stop-1``, including each sample's word offset."""
        self.check_range(start, stop)
        return self._generate(np.arange(start, stop), workers=workers, on_done=on_done)

    def iter_chunks(
        self, start: int, stop: int, chunk: int = 1000, *, workers: int | None = None
    ) -> Iterator[Samples]:
        """Consecutive chunks of ``start..stop-1`` (bounded memory for exports and checks)."""
        self.check_range(start, stop)
        for first in range(start, stop, chunk):
            yield self.get(first, min(first + chunk, stop), workers=workers)

    def check_range(self, first: int, last: int) -> None:
        if not 0 <= first < last <= len(self):
            raise OneshotbenchError(
                f"sample range {first}..{last - 1} is out of range for {self.name} at level "
                f"{self.level} (valid indices: 0..{len(self) - 1})"
            )

    def _generate(self, indices: np.ndarray, *, workers, on_done) -> GeneratedSamples:
        """Generate sorted unique indices, in parallel runs of consecutive samples.

        Jobs whose word offsets are unknown are generated from their start once (which also
        yields their offsets); the rest are cut into runs that start at known offsets.
        """
        jobs = indices // JOB_LENGTH
        wanted = {int(job): indices[jobs == job] - job * JOB_LENGTH for job in np.unique(jobs)}
        with self._lock:
            missing = [
                job for job, within in wanted.items()
                if len(self._offsets.get(job, ())) <= within.max()
            ]  # fmt: skip
        parts: dict[int, GeneratedSamples] = {}
        if missing:
            needed = [int(wanted[job].max()) + 1 for job in missing]
            starts = np.concatenate([[0], np.cumsum(needed)[:-1]])
            prefix = generate_runs(
                self.glyphs.packed,
                [
                    Run(self.job_spec(j), 0, n, int(d))
                    for j, n, d in zip(missing, needed, starts, strict=True)
                ],
                int(sum(needed)),
                self.level,
                workers=workers,
                on_done=on_done,
            )
            for job, n, first in zip(missing, needed, starts, strict=True):
                part = prefix.view(int(first), int(first) + n)
                with self._lock:
                    if len(self._offsets.get(job, ())) < n:
                        self._offsets[job] = part.offset.copy()
                parts[job] = part.take(wanted[job])
        runs: list[Run] = []
        dest = 0
        for job, within in wanted.items():
            if job in parts:
                continue
            offsets = self._offsets[job]
            for segment in np.split(within, np.flatnonzero(np.diff(within) != 1) + 1):
                for first in range(0, len(segment), CHUNK):
                    piece = segment[first : first + CHUNK]
                    runs.append(Run(self.job_spec(job), int(offsets[piece[0]]), len(piece), dest))
                    dest += len(piece)
        if runs:
            generated = generate_runs(
                self.glyphs.packed, runs, dest, self.level, workers=workers, on_done=on_done
            )
            position = 0
            for job, within in wanted.items():
                if job not in parts:
                    parts[job] = generated.view(position, position + len(within))
                    position += len(within)
        return GeneratedSamples.concatenate([parts[job] for job in sorted(parts)])


def load_split(
    split: str,
    level: int,
    *,
    dataset: str = "cluttered-omniglot",
    version: int | None = 1,
    omniglot=None,
    master_seed: int | None = None,
    glyphs: GlyphSet | None = None,
) -> Split:
    """Open ``split`` at clutter ``level``; ``master_seed`` makes a private split of the same kind.

    ``glyphs`` overrides the Omniglot source (tests use a small synthetic set).
    """
    definition = get_dataset(dataset, version)
    split_def = definition.split(split)
    definition.check_level(level)
    if master_seed is not None and not 0 < master_seed < 2**32:
        raise OneshotbenchError(f"a private master seed must be in 1..2**32-1, got {master_seed}")
    return Split(
        definition,
        split_def,
        level,
        glyphs if glyphs is not None else load_omniglot(omniglot),
        master_seed=master_seed,
    )
