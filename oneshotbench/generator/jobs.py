"""Drive the compiled kernel: seeds, random access inside a job, parallel generation.

A job is one of the authors' 2,000-sample joblib jobs: it reseeds numpy's legacy RNG with its job
seed and draws its samples in sequence. Sample ``i`` of a job therefore depends only on the job
seed and on the number of 32-bit words consumed before it (its *word offset*); given that offset,
any sample can be generated alone, in any order, in any thread, with identical bytes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from oneshotbench.generator.aot import kernel_for
from oneshotbench.generator.mt19937_state import seeded_state
from oneshotbench.generator.spec import (
    GLYPH_TOO_LARGE,
    SCENE_SIZE,
    TABLE_FIELDS,
    TARGET_SIZE,
    UNKNOWN_BOUNDS,
    JobSpec,
)


def job_seeds(master_seed: int, n_jobs: int) -> np.ndarray:
    """The authors' job seeds: the ``n_jobs`` smallest distinct of ``2 * n_jobs`` draws.

    ``np.random.seed(master); np.unique(np.random.randint(2**32, size=2 * M))`` — sorted and
    de-duplicated, so the jobs use the smallest values, not the first drawn. (The original treated
    a master seed of 0 as "unseeded"; we refuse it instead of producing unreproducible data.)
    """
    if master_seed <= 0 or master_seed >= 2**32:
        raise ValueError(f"master seed must be in 1..2**32-1, got {master_seed}")
    draws = np.sort(np.random.RandomState(master_seed).randint(2**32, size=2 * n_jobs))
    distinct = np.concatenate(([True], draws[1:] != draws[:-1]))  # np.unique imports numpy.ma
    return draws[distinct][:n_jobs]


_BOUNDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_BOUNDS_LOCK = threading.Lock()


def glyph_bounds(glyphs: np.ndarray) -> np.ndarray:
    """The shared stroke-box array of a glyph array; the kernel fills each box on first use."""
    key = id(glyphs)
    with _BOUNDS_LOCK:
        cached = _BOUNDS.get(key)
        if cached is None or cached[0] is not glyphs:
            bounds = np.full(glyphs.shape[:2] + (4,), UNKNOWN_BOUNDS, np.int64)
            cached = _BOUNDS[key] = (glyphs, bounds)
        return cached[1]


@dataclass
class GeneratedSamples:
    """Raw kernel output for consecutive samples of one job (or a concatenation of such runs)."""

    scene: np.ndarray  # uint8 [N, 96, 96, 3]
    mask: np.ndarray  # bool [N, 96, 96]
    target: np.ndarray  # uint8 [N, 32, 32, 3]
    instance_map: np.ndarray  # int16 [N, 96, 96]
    table: np.ndarray  # int32 [N, level, TABLE_FIELDS], see canonical.T_*
    offset: np.ndarray  # int64 [N], word offset of each sample inside its job

    def __len__(self) -> int:
        return len(self.scene)

    @classmethod
    def empty(cls, count: int, level: int, *, instances: bool = True) -> GeneratedSamples:
        """Uninitialised buffers for ``count`` samples (the kernel writes every byte).

        ``instances=False`` gives one-sample scratch rows for the instance map and the table:
        the kernel then skips the per-glyph statistics (an export without them).
        """
        rows = count if instances else 1
        return cls(
            scene=np.empty((count, SCENE_SIZE, SCENE_SIZE, 3), np.uint8),
            mask=np.empty((count, SCENE_SIZE, SCENE_SIZE), bool),
            target=np.empty((count, TARGET_SIZE, TARGET_SIZE, 3), np.uint8),
            instance_map=np.empty((rows, SCENE_SIZE, SCENE_SIZE), np.int16),
            table=np.empty((rows, level, TABLE_FIELDS), np.int32),
            offset=np.empty(count, np.int64),
        )

    @property
    def has_instances(self) -> bool:
        """Whether the instance maps and tables are per sample (not one scratch row)."""
        return len(self.instance_map) == len(self.scene)

    def _map(self, fn) -> GeneratedSamples:
        scratch = not self.has_instances
        return GeneratedSamples(
            *(
                getattr(self, f) if scratch and f in _INSTANCE_FIELDS else fn(getattr(self, f))
                for f in GeneratedSamples.__dataclass_fields__
            )
        )

    def view(self, start: int, stop: int) -> GeneratedSamples:
        """Samples ``start..stop-1`` as views: writing into them writes into ``self``."""
        return self._map(lambda array: array[start:stop])

    def take(self, positions: np.ndarray) -> GeneratedSamples:
        return self._map(lambda array: array[positions])

    def assign(self, other: GeneratedSamples) -> None:
        """Copy ``other``'s samples into these buffers (per-sample fields only)."""
        for name in GeneratedSamples.__dataclass_fields__:
            if self.has_instances or name not in _INSTANCE_FIELDS:
                getattr(self, name)[...] = getattr(other, name)


_INSTANCE_FIELDS = ("instance_map", "table")


def generate_run(
    glyphs: np.ndarray,
    job: JobSpec,
    count: int,
    *,
    word_offset: int = 0,
    into=None,
    kernel: Callable[..., int] | None = None,
) -> GeneratedSamples:
    """Generate ``count`` consecutive samples of ``job`` starting at ``word_offset``.

    ``glyphs`` is the bit-packed glyph array [chars, 20, 105, 14]; ``into`` optionally receives
    the result (a :class:`GeneratedSamples` of length ``count``). ``kernel`` defaults to
    :func:`oneshotbench.generator.aot.kernel_for` (one worker).
    """
    generate_samples = kernel or kernel_for(1, count)
    out = into if into is not None else GeneratedSamples.empty(count, job.level)
    state = seeded_state(job.seed)
    status = generate_samples(
        state,
        glyphs,
        glyph_bounds(glyphs),
        np.ascontiguousarray(job.pool, dtype=np.int64),
        job.drawer_low,
        job.drawer_high,
        job.level,
        out.scene,
        out.mask,
        out.target,
        out.instance_map,
        out.table,
        out.offset,
        word_offset,
        int(job.pre_fix),
    )
    if status == GLYPH_TOO_LARGE:  # the original would have crashed here too
        raise RuntimeError(f"a glyph larger than the scene occurred in job seed {job.seed}")
    return out


@dataclass(frozen=True)
class Run:
    """A unit of work: ``count`` consecutive samples of ``job`` from ``word_offset``, written at
    position ``dest`` of the output."""

    job: JobSpec
    word_offset: int
    count: int
    dest: int


def default_workers() -> int:
    """Worker threads for parallel generation: the CPUs this process may use."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def generate_runs(
    glyphs: np.ndarray,
    runs: Iterable[Run],
    total: int,
    level: int,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
    into: GeneratedSamples | None = None,
) -> GeneratedSamples:
    """Generate independent runs in parallel threads (the JIT kernel releases the GIL).

    Each run writes its samples straight into its own slice ``[dest, dest + count)`` of the
    output (``into`` when given: preallocated arrays or memory-mapped files), so there is no
    concatenation and no second pass. Every run starts from its own seeded state, so the bytes
    never depend on how the work was cut or on the number of workers.
    """
    out = into if into is not None else GeneratedSamples.empty(total, level)
    runs = list(runs)
    n_workers = min(workers or default_workers(), max(1, len(runs)))
    kernel = kernel_for(n_workers, total)

    def work(run: Run) -> int:
        part = out.view(run.dest, run.dest + run.count)
        if not out.has_instances:  # a scratch row per thread
            part.instance_map = np.empty_like(out.instance_map)
            part.table = np.empty_like(out.table)
        generate_run(
            glyphs, run.job, run.count, word_offset=run.word_offset, into=part, kernel=kernel
        )
        return run.count

    if n_workers == 1:
        for run in runs:
            done = work(run)
            if on_done:
                on_done(done)
        return out
    from concurrent.futures import ThreadPoolExecutor  # a one-sample export starts without it

    with ThreadPoolExecutor(n_workers) as pool:
        for done in pool.map(work, runs):
            if on_done:
                on_done(done)
    return out
