"""Fill every cache a start reads, so that later processes start fast (``data warm``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import numpy as np

from oneshotbench.datasets.split import load_split
from oneshotbench.generator import aot
from oneshotbench.generator.jobs import generate_run


def warm(
    *, omniglot: str | os.PathLike[str] | None = None, aot_module: bool = True
) -> Iterator[str]:
    """Decode the glyphs, compile the JIT kernels, build the ahead-of-time kernel; one line each.

    Raises :class:`oneshotbench.generator.aot.AotBuildError` (after the JIT steps, which stay
    done) when the ahead-of-time kernel cannot be compiled.
    """
    clock = time.perf_counter()
    split = load_split("test-one-shot", 4, omniglot=omniglot)
    yield f"glyph cache ready ({time.perf_counter() - clock:.1f} s)"

    clock = time.perf_counter()
    from oneshotbench.datasets.instances_csv import format_instances

    raw = generate_run(split.glyphs.packed, split.job_spec(0), 1, kernel=aot.jit_kernel())
    format_instances(split.samples(np.arange(1), raw))
    yield f"JIT kernels compiled into numba's cache ({time.perf_counter() - clock:.1f} s)"

    if aot_module:
        clock = time.perf_counter()
        path = aot.build()
        yield f"ahead-of-time kernel ready: {path} ({time.perf_counter() - clock:.1f} s)"
