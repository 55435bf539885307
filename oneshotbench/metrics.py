"""Paper-exact segmentation and localisation metrics (reference spec §4), batched in torch.

The published numbers come from ``model.py: evaluation`` of the authors' code; every rounding
choice below (float32 binarisation, the floored centre of mass with its 1e-5 nudge, the empty-union
and empty-mask conventions) reproduces it, so scores from this module are comparable with the
paper's Tables 1 and 2. The functions are pure and run on whatever device their inputs live on;
:class:`SegmentationScores` accumulates per-sample results so that the final means do not depend
on batch size, order or sharding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

PAPER_THRESHOLD: float = 0.3
"""Foreground threshold on the probability; the authors' code hard-wires it (spec §5.15)."""

LOC_RADIUS: float = 5.0
"""A localisation is correct when the floored centres are closer than this many pixels."""

_COM_NUDGE = 1e-5  # the authors' ``e``: (sum + e) // (count - e) keeps exact integers in place


def binarize(probs: Tensor, threshold: float = PAPER_THRESHOLD) -> Tensor:
    """Foreground mask as the paper's code computes it: ``float32(p) > float32(threshold)``.

    The authors compared TensorFlow float32 softmax outputs with the threshold, so inputs of any
    float dtype are rounded to float32 first; a float64 value just above float32(0.3) that rounds
    onto it is background. Boolean input is already a hard mask and passes through unchanged.
    """
    if probs.dtype == torch.bool:
        return probs
    # A Python scalar is cast to the tensor's float32 (no device tensor, so no copy per call).
    return probs.to(torch.float32) > threshold


def _moments(mask: Tensor) -> Tensor:
    """Per-sample pixel count, sum of column indices and sum of row indices: int64 [B, 3].

    Row and column profiles are reduced first, so the full-size mask is read only twice; summed
    as bytes (a bool's storage), which torch reduces 2-3x faster than bools along the last axis.
    """
    _, height, width = mask.shape
    pixels = mask.view(torch.uint8)
    rows = pixels.sum(dim=2, dtype=torch.int32).to(torch.int64)  # [B, H]
    cols = pixels.sum(dim=1, dtype=torch.int32).to(torch.int64)  # [B, W]
    row_idx = torch.arange(height, device=mask.device, dtype=torch.int64)
    col_idx = torch.arange(width, device=mask.device, dtype=torch.int64)
    count = rows.sum(dim=1)
    return torch.stack([count, (cols * col_idx).sum(dim=1), (rows * row_idx).sum(dim=1)], dim=1)


def _com_from_moments(moments: Tensor) -> Tensor:
    """Floored centre (x, y) from :func:`_moments`, with the authors' float32 arithmetic.

    ``model.py: _center_of_mass`` computes ``(sum + e) // (count - e)`` in float32 (TensorFlow's
    float floordiv is ``floor(a / b)``); for an empty mask this is ``e // -e = -1``, which is where
    the (-1, -1) sentinel comes from.
    """
    moments32 = moments.to(torch.float32)
    count = moments32[:, :1] - _COM_NUDGE  # the scalar is rounded to float32 like the tensor
    return torch.floor((moments32[:, 1:] + _COM_NUDGE) / count).to(torch.int64)


def _pair_moments(pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_moments` of both masks and the count of their intersection; on the CPU in one
    compiled pass (:mod:`oneshotbench.scoring_kernels`, equal to these reductions by test)."""
    if pred.device.type == "cpu":
        from oneshotbench.scoring_kernels import pair_moments

        both = torch.from_numpy(
            pair_moments(np.ascontiguousarray(pred.numpy()), np.ascontiguousarray(gt.numpy()))
        )
        return both[:, 0:3], both[:, 3:6], both[:, 6]
    return _moments(pred), _moments(gt), _count(pred & gt)


def _check_masks(*masks: Tensor) -> None:
    for mask in masks:
        if mask.dtype != torch.bool or mask.dim() != 3:
            raise ValueError(f"expected a bool mask [B,H,W], got {mask.dtype} {tuple(mask.shape)}")
    if len({tuple(m.shape) for m in masks}) > 1:
        raise ValueError(f"mask shapes differ: {[tuple(m.shape) for m in masks]}")


def _iou_from_counts(inter: Tensor, pred_n: Tensor, gt_n: Tensor) -> Tensor:
    """|P∩G| / |P∪G| in float64 (the authors' int32 / int32 true division); 0/0 scores 1."""
    union = (pred_n + gt_n - inter).to(torch.float64)
    ratio = inter.to(torch.float64) / union.clamp(min=1)
    return torch.where(union == 0, torch.ones_like(ratio), ratio)


def _count(mask: Tensor) -> Tensor:
    """Foreground pixels per sample, int64 [B] (int32 accumulation is several times faster)."""
    return mask.flatten(1).sum(dim=1, dtype=torch.int32).to(torch.int64)


def iou(pred: Tensor, gt: Tensor) -> Tensor:
    """Per-sample intersection over union of two bool masks [B,H,W] -> float64 [B].

    An empty union (both masks empty) scores 1, as in the paper; an empty ground truth with a
    non-empty prediction scores 0.
    """
    _check_masks(pred, gt)
    return _iou_from_counts(_count(pred & gt), _count(pred), _count(gt))


def center_of_mass(mask: Tensor) -> Tensor:
    """Floored centre of mass of bool masks [B,H,W] -> int64 [B,2] as (x = column, y = row).

    Reproduces the authors' float32 ``(sum + 1e-5) // (count - 1e-5)``; an empty mask gives
    (-1, -1).
    """
    _check_masks(mask)
    return _com_from_moments(_moments(mask))


def floor_locations(locations: Tensor) -> Tensor:
    """Submitted (x, y) float locations [B,2] -> int64 pixel coordinates, floored like centres.

    Values are clamped to ±2^31 first so that absurd submissions cannot overflow the cast.
    """
    if locations.dim() != 2 or locations.shape[1] != 2:
        raise ValueError(f"expected locations [B,2], got {tuple(locations.shape)}")
    limit = float(2**31)
    return torch.floor(locations.to(torch.float64).clamp(-limit, limit)).to(torch.int64)


def localization_hits(pred_xy: Tensor, gt_xy: Tensor, radius: float = LOC_RADIUS) -> Tensor:
    """Paper localisation: Euclidean distance between the centres strictly below ``radius``.

    The sentinel (-1, -1) of an empty mask is treated as a point, exactly as the authors' code
    does: an empty prediction "hits" an empty ground truth and any target near the top-left corner.
    """
    delta = (pred_xy - gt_xy).to(torch.float64)
    return torch.sqrt((delta * delta).sum(dim=1)) < radius


def localization_hits_strict(
    pred_xy: Tensor, gt_xy: Tensor, size: tuple[int, int], radius: float = LOC_RADIUS
) -> Tensor:
    """Corrected localisation: as :func:`localization_hits`, but a centre outside the image of
    ``size`` = (height, width) never hits.

    That covers the (-1, -1) sentinel of an empty prediction (always a miss, even against an empty
    ground truth) and of an empty ground truth, and submitted locations off the scene.
    """
    height, width = size

    def inside(xy: Tensor) -> Tensor:
        x, y = xy[:, 0], xy[:, 1]
        return (x >= 0) & (x < width) & (y >= 0) & (y < height)

    return localization_hits(pred_xy, gt_xy, radius) & inside(pred_xy) & inside(gt_xy)


@dataclass(frozen=True)
class MetricSpec:
    """A named, versioned metric definition; records carry these so results stay comparable."""

    name: str
    version: int
    description: str

    def to_dict(self) -> dict:
        return asdict(self)


IOU_PAPER = MetricSpec(
    "iou-paper",
    1,
    "Per-sample |P∩G|/|P∪G| with P = float32(prob) > float32(threshold) (strict) and G the "
    "ground-truth mask; an empty union scores 1; reported as the mean over all samples in %.",
)
LOC_PAPER = MetricSpec(
    "localization-paper",
    1,
    "Hit when the Euclidean distance between the floored centres of mass of P (or the floored "
    "submitted location) and G is < 5 px; centres are float32 (sum+1e-5)//(count-1e-5) and an "
    "empty mask sits at (-1,-1), so two empty masks count as a hit; mean over samples in %.",
)
LOC_STRICT = MetricSpec(
    "localization-strict",
    1,
    "As localization-paper, but a centre outside the image never hits: an empty prediction is "
    "always a miss, and so is any prediction for an empty ground truth; mean over samples in %.",
)


@dataclass(eq=False)
class PerSampleScores:
    """Scores of individual samples, sorted by split index (numpy arrays of equal length)."""

    index: np.ndarray  # int64
    iou: np.ndarray  # float64, in [0, 1]
    hit: np.ndarray  # bool, paper localisation
    hit_strict: np.ndarray  # bool, corrected localisation
    pred_x: np.ndarray  # int64, floored predicted centre (column)
    pred_y: np.ndarray  # int64, floored predicted centre (row)

    FIELDS = ("index", "iou", "hit", "hit_strict", "pred_x", "pred_y")

    def __len__(self) -> int:
        return len(self.index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PerSampleScores):
            return NotImplemented
        return all(
            getattr(self, f).dtype == getattr(other, f).dtype
            and np.array_equal(getattr(self, f), getattr(other, f))
            for f in self.FIELDS
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields as a name -> array dict (for ``np.savez``)."""
        return {f: getattr(self, f) for f in self.FIELDS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PerSampleScores:
        """Inverse of :meth:`arrays`, coercing each field to its canonical dtype."""
        dtypes = {"iou": np.float64, "hit": np.bool_, "hit_strict": np.bool_}
        return cls(**{f: np.asarray(arrays[f], dtype=dtypes.get(f, np.int64)) for f in cls.FIELDS})

    @staticmethod
    def merge(parts: list[PerSampleScores]) -> PerSampleScores:
        """Concatenate shards (or resumed pieces), sort by index and reject duplicate indices."""
        if not parts:
            raise ValueError("nothing to merge: no per-sample scores given")
        joined = {f: np.concatenate([getattr(p, f) for p in parts]) for f in PerSampleScores.FIELDS}
        order = np.argsort(joined["index"], kind="stable")
        merged = PerSampleScores.from_arrays({f: a[order] for f, a in joined.items()})
        duplicated = merged.index[1:][merged.index[1:] == merged.index[:-1]]
        if duplicated.size:
            shown = ", ".join(map(str, np.unique(duplicated)[:10]))
            raise ValueError(f"sample indices scored more than once: {shown}")
        return merged


class SegmentationScores:
    """Streaming scorer in the spirit of torchmetrics: ``update`` per batch, ``compute`` at the end.

    State is kept per sample (never per-batch means), so results are identical for any batch size,
    order or sharding. Heavy work runs on the device of the probabilities; only per-sample results
    (a few numbers per sample) are kept, on ``device``.
    """

    def __init__(self, threshold: float = PAPER_THRESHOLD, device: str | torch.device = "cpu"):
        self.threshold = threshold
        self.device = torch.device(device)
        self._parts: list[dict[str, Tensor]] = []

    def update(
        self, index: Tensor, probs: Tensor, gt_mask: Tensor, locations: Tensor | None = None
    ) -> None:
        """Score one batch: sample indices [B], probabilities [B,H,W] (float or bool), bool
        ground truth [B,H,W], optional submitted (x, y) locations [B,2] that replace the
        predicted mask's centre of mass for localisation."""
        pred = binarize(probs, self.threshold)
        gt = gt_mask.to(pred.device)
        _check_masks(pred, gt)
        if index.shape != (pred.shape[0],):
            raise ValueError(f"index shape {tuple(index.shape)} != batch size {pred.shape[0]}")
        pred_m, gt_m, inter = _pair_moments(pred, gt)
        if locations is None:
            pred_xy = _com_from_moments(pred_m)
        else:
            if locations.shape[0] != pred.shape[0]:
                raise ValueError(f"{locations.shape[0]} locations for {pred.shape[0]} samples")
            pred_xy = floor_locations(locations.to(pred.device))
        gt_xy = _com_from_moments(gt_m)
        size = (pred.shape[1], pred.shape[2])
        part = {
            "index": index.to(torch.int64),
            "iou": _iou_from_counts(inter, pred_m[:, 0], gt_m[:, 0]),
            "hit": localization_hits(pred_xy, gt_xy),
            "hit_strict": localization_hits_strict(pred_xy, gt_xy, size),
            "pred_x": pred_xy[:, 0],
            "pred_y": pred_xy[:, 1],
        }
        self._parts.append({k: v.to(self.device) for k, v in part.items()})

    def compute(self) -> PerSampleScores:
        """All samples scored so far, sorted by index; duplicate indices raise ``ValueError``."""
        if not self._parts:
            raise ValueError("no samples were scored (update was never called)")
        joined = {
            f: torch.cat([p[f] for p in self._parts]).cpu().numpy() for f in PerSampleScores.FIELDS
        }
        return PerSampleScores.merge([PerSampleScores.from_arrays(joined)])

    merge = staticmethod(PerSampleScores.merge)
