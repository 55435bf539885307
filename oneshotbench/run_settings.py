"""What one ``evaluate`` call runs with: defaults, the checks made before any work, and the
validated settings every stage of the run reads."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from oneshotbench.errors import OneshotbenchError
from oneshotbench.pipeline import SplitSource
from oneshotbench.private import PrivateSecret
from oneshotbench.worker_handle import Limits

PAPER_LEVELS = (4, 8, 16, 32, 64, 128, 256)
DEFAULT_SPLIT = "test-one-shot"
DEFAULT_BATCH_SIZE = 250  # the paper's evaluation batch
DEFAULT_BATCH_TIMEOUT = 1800.0  # s; generous enough for MaskNet-style models on a CPU
DEFAULT_TIMEOUT = 48 * 3600.0  # s; a full CPU run of a slow model fits
N_RESAMPLES = 10_000
CHECKPOINT_ENV = "ONESHOTBENCH_CHECKPOINT"  # the reference wrappers' weights, hashed as an artefact
OMNIGLOT_ENV = "ONESHOTBENCH_OMNIGLOT"  # hidden from the submission like the cache


def default_memory_limit() -> int | None:
    """Three quarters of the machine's RAM (None where it cannot be read)."""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return int(0.75 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return None


def default_out_path(
    submission: Path, split: str, *, private: bool, name: str | None = None
) -> Path:
    """``out/<name>-<split>[-private].json`` in the working directory (name: the file's stem)."""
    stem = name or Path(submission).stem
    return Path("out") / f"{stem}-{split}{'-private' if private else ''}.json"


def check_writable(out: Path) -> None:
    """Fail before any work when the record could not be written."""
    if out.is_dir():
        raise OneshotbenchError(
            f"output path {out} is a folder; name a file, e.g. {out / 'r.json'}"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as err:
        raise OneshotbenchError(
            f"cannot write the result to {out}: {err.strerror or err}"
        ) from None


def check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    """Distinct, non-empty clutter levels as a tuple."""
    chosen = tuple(int(level) for level in levels)
    if not chosen or len(set(chosen)) != len(chosen):
        raise OneshotbenchError(f"levels must be distinct and non-empty, got {list(levels)}")
    return chosen


def check_count(name: str, value: float | None, *, allow_none: bool = True) -> None:
    """A sample count, batch size or time limit must be positive (None: no limit)."""
    if (value is None and not allow_none) or (value is not None and value <= 0):
        raise OneshotbenchError(f"{name} must be positive, got {value}")


def other_batch_size(batch_size: int) -> int:
    """The invariance check's batch size: different from the main run's."""
    return batch_size // 2 if batch_size > 1 else 2


OpenSplit = Callable[[str, int, "Path | None", "int | None"], SplitSource]
"""(split, level, omniglot, master_seed) -> split; inject a fake one in tests and benchmarks."""


@dataclass(frozen=True)
class RunSettings:
    """The validated options of one ``evaluate`` call (read by every stage of the run)."""

    submission: Path
    split: str
    levels: tuple[int, ...]
    samples: int | None
    device: torch.device
    batch_size: int
    out: Path
    resume: bool
    limits: Limits
    bootstrap_seed: int
    secret: PrivateSecret | None
    secret_file: Path | None
    check_invariance: bool
    oracle: bool
    omniglot: Path | None
    progress: bool
    threshold: float
    open_split: OpenSplit
    sandbox: str
    env: dict[str, str]
    name: str
    tags: tuple[str, ...]
    artifacts: tuple[Path, ...]
    analysis: bool = True
    save_masks: bool = False

    @property
    def probe_batch(self) -> int:
        return other_batch_size(self.batch_size)
