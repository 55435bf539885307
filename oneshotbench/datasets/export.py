"""Export a split to the authors' ``.npy`` layout (plus instance maps and a CSV)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from oneshotbench.cache import atomic_path
from oneshotbench.datasets.instances_csv import HEADER, format_instances
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

    Each ``.npy`` gets its header for the final shape, then the chunks are appended as they are
    generated (bounded memory for any range). Files are written under temporary names and
    renamed into place only when complete, so an interrupted export never leaves a truncated
    array behind.
    """
    split.check_range(start, stop)
    count = stop - start
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OneshotbenchError(f"cannot create output directory {out}: {err.strerror}") from err
    # file -> (shape, dtype, the samples' field written into it)
    layout = {
        "images.npy": ((count, 96, 96, 3), np.uint8, lambda b: b.scene),
        "segmentation.npy": ((count, 96, 96, 1), np.uint8, lambda b: b.mask[..., None]),
        "targets.npy": ((count, 32, 32, 3), np.uint8, lambda b: b.target),
        "instance_map.npy": ((count, 96, 96), np.int16, lambda b: b.instance_map),
    }
    try:
        with contextlib.ExitStack() as stack:
            files = {}
            for name, (shape, dtype, _) in layout.items():
                files[name] = stack.enter_context(
                    stack.enter_context(atomic_path(out / name)).open("wb")
                )
                header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_1_0(files[name], header)
            csv_path = stack.enter_context(atomic_path(out / "instances.csv"))
            csv = stack.enter_context(csv_path.open("wb"))
            csv.write(HEADER.encode())
            for first in range(start, stop, CHUNK):
                batch = split.get(first, min(first + CHUNK, stop), workers=workers)
                for name, (_, dtype, field) in layout.items():
                    # sequential appends of whole chunks: no page faults of a memory map
                    files[name].write(np.ascontiguousarray(field(batch), dtype=dtype).data)
                csv.write(format_instances(batch))
                if on_done:
                    on_done(len(batch))
            for handle in files.values():
                handle.close()  # flushed before the atomic renames run
            csv.close()
    except OSError as err:
        raise OneshotbenchError(f"cannot write to {out}: {err.strerror or err}") from err
    return [out / name for name in layout] + [out / "instances.csv"]
