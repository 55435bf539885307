"""Export a split to the authors' ``.npy`` layout, generated straight into memory-mapped files.

The default is what users of the original code expect: ``images.npy``, ``segmentation.npy`` and
``targets.npy``. ``instances=True`` adds ``instance_map.npy`` (int16, which glyph owns each
pixel) and ``instances.csv`` (one row per pasted glyph): together 2.5x the bytes of the scenes
at level 32, so they are written only on request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from oneshotbench.cache import atomic_path
from oneshotbench.datasets.split import Split
from oneshotbench.errors import OneshotbenchError
from oneshotbench.generator.jobs import GeneratedSamples
from oneshotbench.generator.spec import SCENE_SIZE, TABLE_FIELDS, TARGET_SIZE

CHUNK = 1000  # samples per step when the per-glyph table is written (bounded memory)

AUTHORS_FILES = ("images.npy", "segmentation.npy", "targets.npy")
INSTANCE_FILES = ("instance_map.npy", "instances.csv")


def export_split(
    split: Split,
    out: Path,
    start: int,
    stop: int,
    *,
    instances: bool = False,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write samples ``start..stop-1`` of ``split`` into ``out``; return the files written.

    The kernel's threads write each sample straight into the memory-mapped ``.npy`` files (no
    intermediate arrays, no copies). Files are written under temporary names and renamed into
    place only when complete, so an interrupted export never leaves a truncated array behind.
    Without ``instances``, instance files left in ``out`` by an earlier export are removed.
    """
    split.check_range(start, stop)
    count = stop - start
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OneshotbenchError(f"cannot create output directory {out}: {err.strerror}") from err
    names = AUTHORS_FILES + (INSTANCE_FILES if instances else ())
    try:
        with contextlib.ExitStack() as stack:
            paths = {name: stack.enter_context(atomic_path(out / name)) for name in names}

            def array(name: str, shape: tuple[int, ...], dtype) -> np.memmap:
                return open_memmap(paths[name], mode="w+", dtype=dtype, shape=(count, *shape))

            maps = {
                "images": array("images.npy", (SCENE_SIZE, SCENE_SIZE, 3), np.uint8),
                "segmentation": array("segmentation.npy", (SCENE_SIZE, SCENE_SIZE, 1), np.uint8),
                "targets": array("targets.npy", (TARGET_SIZE, TARGET_SIZE, 3), np.uint8),
            }
            if instances:
                maps["instances"] = array("instance_map.npy", (SCENE_SIZE, SCENE_SIZE), np.int16)
                _fill_with_instances(split, maps, paths["instances.csv"], start, workers, on_done)
            else:
                # One call: the threads stream through the whole range.
                split.raw(start, stop, into=_buffers(maps, 0, count, split.level), workers=workers,
                          on_done=on_done)  # fmt: skip
            maps.clear()  # unmapped before the atomic renames run
        if not instances:  # instance files of an earlier export describe other samples
            for name in INSTANCE_FILES:
                (out / name).unlink(missing_ok=True)
    except OSError as err:
        raise OneshotbenchError(f"cannot write to {out}: {err.strerror or err}") from err
    return [out / name for name in names]


def _buffers(maps: dict[str, np.memmap], lo: int, hi: int, level: int, table=None):
    """Kernel buffers that are views of samples ``lo..hi-1`` of the mapped files."""
    n = hi - lo
    scratch = GeneratedSamples.empty(0, level, instances=False)
    return GeneratedSamples(
        scene=np.asarray(maps["images"][lo:hi]),
        mask=np.asarray(maps["segmentation"][lo:hi]).reshape(n, SCENE_SIZE, SCENE_SIZE).view(bool),
        target=np.asarray(maps["targets"][lo:hi]),
        instance_map=np.asarray(maps["instances"][lo:hi]) if "instances" in maps
        else scratch.instance_map,
        table=table if table is not None else scratch.table,
        offset=np.empty(n, np.int64),
    )  # fmt: skip


def _fill_with_instances(split, maps, csv_path, start, workers, on_done) -> None:
    """Generate in chunks so the per-glyph table (12 ints per glyph) stays small in memory."""
    # Imported here: its table formatter is JIT-compiled, and plain exports start without numba.
    from oneshotbench.datasets.instances_csv import HEADER, format_instances

    count = len(maps["images"])
    with csv_path.open("wb") as csv:
        csv.write(HEADER.encode())
        for lo in range(0, count, CHUNK):
            hi = min(lo + CHUNK, count)
            table = np.empty((hi - lo, split.level, TABLE_FIELDS), np.int32)
            raw = split.raw(start + lo, start + hi, into=_buffers(maps, lo, hi, split.level, table),
                            workers=workers, on_done=on_done)  # fmt: skip
            csv.write(format_instances(split.samples(np.arange(start + lo, start + hi), raw)))
