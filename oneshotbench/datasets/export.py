"""Export a split to the authors' ``.npy`` layout (plus instance maps and a CSV)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from oneshotbench.cache import atomic_path
from oneshotbench.datasets.split import Split
from oneshotbench.errors import OneshotbenchError

CHUNK = 1000


def export_split(
    split: Split,
    out: Path,
    start: int,
    stop: int,
    *,
    workers: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write samples ``start..stop-1`` of ``split`` into ``out``; return the files written.

    Files are filled through memory maps of temporary files and renamed into place only when
    complete, so an interrupted export never leaves a truncated array behind.
    """
    split.check_range(start, stop)
    count = stop - start
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OneshotbenchError(f"cannot create output directory {out}: {err.strerror}") from err
    layout = {
        "images.npy": ((count, 96, 96, 3), np.uint8),
        "segmentation.npy": ((count, 96, 96, 1), np.uint8),
        "targets.npy": ((count, 32, 32, 3), np.uint8),
        "instance_map.npy": ((count, 96, 96), np.int16),
    }
    try:
        with contextlib.ExitStack() as stack:
            temps = {name: stack.enter_context(atomic_path(out / name)) for name in layout}
            csv_tmp = stack.enter_context(atomic_path(out / "instances.csv"))
            arrays = {
                name: np.lib.format.open_memmap(temps[name], "w+", dtype, shape)
                for name, (shape, dtype) in layout.items()
            }
            with csv_tmp.open("w", newline="") as csv:
                for first in range(start, stop, CHUNK):
                    batch = split.get(first, min(first + CHUNK, stop), workers=workers)
                    at = slice(first - start, first - start + len(batch))
                    arrays["images.npy"][at] = batch.scene
                    arrays["segmentation.npy"][at, ..., 0] = batch.mask
                    arrays["targets.npy"][at] = batch.target
                    arrays["instance_map.npy"][at] = batch.instance_map
                    batch.instances.to_csv(csv, header=first == start, index=False)
                    if on_done:
                        on_done(len(batch))
            for array in arrays.values():
                array.flush()
            del arrays
    except OSError as err:
        raise OneshotbenchError(f"cannot write to {out}: {err.strerror or err}") from err
    return [out / name for name in layout] + [out / "instances.csv"]
