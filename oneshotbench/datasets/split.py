"""One split at one clutter level, generated on demand with random access."""

from __future__ import annotations

import hashlib
import operator
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from oneshotbench.datasets.cluttered_omniglot import DatasetDef, SplitDef, get_dataset
from oneshotbench.datasets.samples import Samples
from oneshotbench.errors import OneshotbenchError
from oneshotbench.generator.jobs import (
    GeneratedSamples,
    Run,
    default_workers,
    generate_runs,
    job_seeds,
)
from oneshotbench.generator.spec import JOB_LENGTH, JobSpec
from oneshotbench.omniglot import CANONICAL_FINGERPRINT, GlyphSet, load_omniglot

CHUNK = 250  # most samples per parallel run when offsets are known
MIN_RUN = 16  # fewest samples per run when a small request is cut to keep every worker busy


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
        fingerprint = self.fingerprint
        known = f", fingerprint {fingerprint[:12]}…" if fingerprint and self.official else ""
        glyphs = "" if self.official or self.private else ", non-canonical glyphs"
        return (
            f"Split({self.dataset.label}, {kind}{self.definition.name}, level={self.level}, "
            f"{len(self):,} samples{known}{glyphs})"
        )

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
        seed = int(self.job_seeds[job])
        return JobSpec(self.pool, low, high, self.level, seed, self.dataset.pre_fix)

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
        if np.all(np.diff(indices) > 0):  # sorted and unique: generated in place
            raw = self._generate(indices, self._buffers(len(indices)), workers, on_done)
        else:
            unique, inverse = np.unique(indices, return_inverse=True)
            raw = self._generate(unique, self._buffers(len(unique)), workers, on_done)
            raw = raw.take(inverse)
        return self.samples(indices, raw)

    def samples(self, index: np.ndarray, raw: GeneratedSamples) -> Samples:
        """Generated arrays of the samples ``index`` as :class:`Samples` of this split."""
        return Samples(
            index=index,
            scene=raw.scene,
            target=raw.target,
            mask=raw.mask,
            instance_map=raw.instance_map,
            table=raw.table,
            alphabets=self.glyphs.alphabets,
            char_alphabet=self.glyphs.char_alphabet,
        )

    def __getitem__(self, key: int | slice) -> Samples:
        """``split[i]`` (negative i counts from the end) or ``split[a:b:step]``, like a list."""
        if isinstance(key, slice):
            return self.get(np.arange(len(self))[key])
        try:
            index = operator.index(key)
        except TypeError:
            raise TypeError(
                f"Split indices must be integers or slices, not {type(key).__name__}"
            ) from None
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample index {index} is out of range for a split of {len(self)}")
        return self.get(index % len(self))

    def raw(
        self,
        start: int,
        stop: int,
        *,
        workers: int | None = None,
        on_done: Callable[[int], None] | None = None,
        into: GeneratedSamples | None = None,
        instances: bool = True,
    ) -> GeneratedSamples:
        """Kernel output for ``start..stop-1``, including each sample's word offset.

        ``into`` receives the samples (preallocated arrays or memory-mapped files of length
        ``stop - start``); ``instances=False`` skips the instance maps and per-glyph tables.
        """
        self.check_range(start, stop)
        out = into if into is not None else self._buffers(stop - start, instances=instances)
        return self._generate(np.arange(start, stop), out, workers, on_done)

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

    def _buffers(self, count: int, *, instances: bool = True) -> GeneratedSamples:
        return GeneratedSamples.empty(count, self.level, instances=instances)

    def _generate(
        self,
        indices: np.ndarray,
        out: GeneratedSamples,
        workers: int | None,
        on_done: Callable[[int], None] | None,
    ) -> GeneratedSamples:
        """Generate sorted unique ``indices`` into ``out``, in parallel runs of consecutive samples.

        Runs write into their own slices of ``out``. A job whose word offsets are unknown is
        generated from its start once (which also yields its offsets): straight into ``out``
        when the request is that prefix, else into a scratch buffer it is then picked from.
        """
        if not len(indices):
            return out
        # a request of one CHUNK or less is still cut so that every worker thread gets a share
        piece_size = min(CHUNK, max(MIN_RUN, -(-len(indices) // (workers or default_workers()))))
        jobs = indices // JOB_LENGTH
        job_ids, starts = np.unique(jobs, return_index=True)
        ends = np.append(starts[1:], len(indices))
        runs: list[Run] = []
        prefixes: list[tuple[int, int, int]] = []  # (job, first position in out, count)
        scattered: list[tuple[int, np.ndarray, int]] = []  # (job, within, first position)
        for job, lo, hi in zip(job_ids.tolist(), starts.tolist(), ends.tolist(), strict=True):
            within = indices[lo:hi] - job * JOB_LENGTH
            with self._lock:
                offsets = self._offsets.get(job)
            if offsets is None or len(offsets) <= within[-1]:
                if within[0] == 0 and within[-1] == hi - lo - 1:
                    runs.append(Run(self.job_spec(job), 0, hi - lo, lo))
                    prefixes.append((job, lo, hi - lo))
                else:
                    scattered.append((job, within, lo))
                continue
            cuts = np.flatnonzero(np.diff(within) != 1) + 1
            for segment_start, segment in zip(
                np.append(0, cuts), np.split(within, cuts), strict=True
            ):
                for first in range(0, len(segment), piece_size):
                    piece = segment[first : first + piece_size]
                    dest = lo + int(segment_start) + first
                    runs.append(Run(self.job_spec(job), int(offsets[piece[0]]), len(piece), dest))
        if scattered:
            self._generate_scattered(scattered, out, workers, on_done)
        if runs:
            generate_runs(
                self.glyphs.packed, runs, len(out), self.level,
                workers=workers, on_done=on_done, into=out,
            )  # fmt: skip
        for job, lo, count in prefixes:
            self._remember(job, out.offset[lo : lo + count])
        return out

    def _generate_scattered(self, scattered, out, workers, on_done) -> None:
        """Jobs with unknown offsets and a request that is not a prefix: generate the prefixes,
        remember their offsets, copy the wanted samples into ``out``."""
        needed = [int(within[-1]) + 1 for _, within, _ in scattered]
        firsts = np.concatenate([[0], np.cumsum(needed)[:-1]]).tolist()
        runs = [
            Run(self.job_spec(job), 0, n, first)
            for (job, _, _), n, first in zip(scattered, needed, firsts, strict=True)
        ]
        scratch = GeneratedSamples.empty(sum(needed), self.level, instances=out.has_instances)
        generate_runs(
            self.glyphs.packed, runs, len(scratch), self.level,
            workers=workers, on_done=on_done, into=scratch,
        )  # fmt: skip
        for (job, within, lo), n, first in zip(scattered, needed, firsts, strict=True):
            self._remember(job, scratch.offset[first : first + n])
            out.view(lo, lo + len(within)).assign(scratch.take(first + within))

    def _remember(self, job: int, offsets: np.ndarray) -> None:
        with self._lock:
            if len(self._offsets.get(job, ())) < len(offsets):
                self._offsets[job] = offsets.copy()


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
