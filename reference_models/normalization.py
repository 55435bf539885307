"""Input standardisation constants: computed once from training scenes, stored with the model.

The authors standardise scenes *and* targets with one scalar mean and standard deviation over all
pixels and channels of the first 1000 training scenes of the level (spec §3.1), in 0..255 units.
Their evaluation recomputed the constants from the first 1000 test-train scenes (spec §5.14);
here they are computed once from training data, saved in the checkpoint sidecar and never
recomputed from evaluation data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from torch import Tensor

STATS_SCENES = 1000
"""Number of leading training scenes the constants are computed from (the authors' choice)."""


@dataclass(frozen=True)
class InputStats:
    """Scalar mean and standard deviation of training scene pixels, in 0..255 units."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mean) and np.isfinite(self.std) and self.std > 0):
            raise ValueError(f"invalid input statistics mean={self.mean} std={self.std}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InputStats:
        return cls(mean=float(data["mean"]), std=float(data["std"]))


def compute_input_stats(
    scenes: Iterable[Tensor | np.ndarray], limit: int = STATS_SCENES
) -> InputStats:
    """Mean/std over all pixels of the first ``limit`` scenes of ``scenes`` (uint8 batches).

    Accumulates exact integer sums, so the result does not depend on how the scenes are batched
    (np.mean/np.std of the stacked array, up to float64 rounding).
    """
    total = square = count = seen = 0
    for batch in scenes:
        arr = batch.cpu().numpy() if isinstance(batch, Tensor) else np.asarray(batch)
        arr = arr[: limit - seen].astype(np.int64)
        total += int(arr.sum())
        square += int((arr * arr).sum())
        count += arr.size
        seen += len(arr)
        if seen >= limit:
            break
    if count == 0:
        raise ValueError("no training scenes to compute input statistics from")
    mean = total / count
    return InputStats(mean=mean, std=float(np.sqrt(max(square / count - mean * mean, 0.0))))


def standardize(images01: Tensor, stats: InputStats) -> Tensor:
    """Images in [0, 1] (as the predict protocol delivers them) -> (255*x - mean) / std."""
    return (images01 * 255.0 - stats.mean) / stats.std
