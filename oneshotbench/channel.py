"""The channel between the harness and the worker: one shared-memory batch file and framed JSON.

Per batch the harness writes uint8 pixels into one shared-memory file (``memfd``), sends a small
JSON message over a pipe, and reads the checked float32 probabilities back from the same file.
No pickling of worker output, so a hostile submission cannot run code in the harness; replies
are size-capped (:data:`MAX_REPLY`). Both sides import this module and nothing else of each other.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import tempfile

import numpy as np

from oneshotbench import protocol

FAULT_KINDS = ("load", "protocol", "exception", "output")
"""How a worker may say it failed (anything else reads as a protocol breach)."""
WORKER_TIMES = ("input_s", "predict_s", "output_s")
"""What the worker reports per batch: moving pixels in, ``predict`` with the output checks,
moving probabilities back (seconds)."""
HEADER = struct.Struct("<II")  # lengths of the JSON header and of the payload that follow
MAX_REPLY = 1 << 16  # worker replies are small JSON; anything bigger is a protocol breach
_ALIGN = 64
_S, _T = protocol.SCENE_SIZE, protocol.TARGET_SIZE


def region_layout(capacity: int) -> tuple[list[tuple[str, np.dtype, tuple[int, ...], int]], int]:
    """The shared file's regions (name, dtype, shape, offset) and its size.

    Both processes carve identical views from it: pixels in, oracle instance maps in,
    probabilities and locations out.
    """
    regions = [
        ("scenes", np.dtype(np.uint8), (capacity, _S, _S, 3)),
        ("targets", np.dtype(np.uint8), (capacity, _T, _T, 3)),
        ("instance_map", np.dtype(np.int16), (capacity, _S, _S)),
        ("probs", np.dtype(np.float32), (capacity, _S, _S)),
        ("locations", np.dtype(np.float64), (capacity, 2)),
    ]
    placed, offset = [], 0
    for name, dtype, shape in regions:
        placed.append((name, dtype, shape, offset))
        offset += -(-dtype.itemsize * math.prod(shape) // _ALIGN) * _ALIGN
    return placed, offset


def anonymous_file(size: int) -> int:
    """A file descriptor of ``size`` bytes that lives only in memory and vanishes when closed."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("oneshotbench-batch")
    else:  # not Linux: an unlinked temporary file serves the same purpose
        fd, name = tempfile.mkstemp(prefix="oneshotbench-batch-")
        os.unlink(name)
    os.ftruncate(fd, size)
    return fd


def map_batch_file(fd: int, capacity: int) -> tuple[mmap.mmap, dict[str, np.ndarray]]:
    regions, size = region_layout(capacity)
    buffer = mmap.mmap(fd, size)
    views = {
        name: np.frombuffer(buffer, dtype, math.prod(shape), offset).reshape(shape)
        for name, dtype, shape, offset in regions
    }
    return buffer, views


def send(fd: int, header: dict, payload: bytes = b"") -> None:
    data = json.dumps(header).encode()
    frame = HEADER.pack(len(data), len(payload)) + data + payload
    view = memoryview(frame)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(fd: int) -> tuple[dict, bytes] | None:
    """Blocking read of one frame (worker side); None when the harness has gone."""
    head = _read_exact(fd, HEADER.size)
    if head is None:
        return None
    n_header, n_payload = HEADER.unpack(head)
    body = _read_exact(fd, n_header + n_payload)
    if body is None:
        return None
    return json.loads(body[:n_header]), body[n_header:]
