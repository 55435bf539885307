"""Per-sample glyph analysis: which pasted glyph a prediction chose, and what made the target hard.

A pure, vectorised kernel over one batch (numpy and one compiled pass; no files, no printing).
It sits at the metrics layer: the runner calls it where it scores a batch, with ground truth the
submission never sees. One pass over the predicted pixels (a per-sample ``np.bincount``,
compiled) gives, per sample, how many predicted pixels fall on every instance (background, each
pasted glyph); everything else comes from the per-glyph table (paste order, the target last).

Definitions (documented in docs/record-schema.md):

* **chosen glyph** — the instance holding the most predicted pixels (ties: the lower paste index);
  none (0) when the prediction is empty or background holds more predicted pixels than it.
* **detected** — the chosen glyph is the target (a pixel-majority choice, not the localisation
  metric).
* **relation** of a chosen distractor to the target: same character (another drawing), same
  alphabet, similar colour (RGB distance below :data:`SIMILAR_COLOUR`), near (its box overlaps the
  target's box), and the distance between the boxes' centres.
* **difficulty** of the target: visible pixels, size (the longer side of its box), clutter (visible
  distractors whose box overlaps its box) and colour contrast (smallest RGB distance to those
  neighbours' colours, or to the black background when it has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

SIMILAR_COLOUR = 48.0
"""Two glyph colours are "the same colour" below this RGB distance (colours are uniform in
0..254 per channel, so exact equality practically never happens)."""

# name -> dtype of every per-sample field (the record's side file stores them as
# ``level{L}_glyph_{name}``); NaN marks a value that is undefined for that sample.
GLYPH_FIELDS: dict[str, type] = {
    "index": np.int64,
    "pred_pixels": np.int32,  # binarised predicted pixels
    "chosen": np.int16,  # paste index (1-based, the target = level) of the chosen glyph; 0 = none
    "detected": np.bool_,
    "share_target": np.float32,  # shares of the predicted pixels; NaN for an empty prediction
    "share_distractors": np.float32,
    "share_background": np.float32,
    "chosen_iou": np.float32,  # IoU with the chosen glyph's visible mask; NaN when none chosen
    "same_char": np.bool_,  # relations of a chosen *distractor* (False otherwise)
    "same_alphabet": np.bool_,
    "same_colour": np.bool_,
    "near": np.bool_,
    "distance": np.float32,  # px between box centres of chosen glyph and target; NaN when none
    "target_visible": np.int32,
    "target_size": np.int16,
    "target_clutter": np.int16,
    "target_contrast": np.float32,
    "n_distractors": np.int16,  # visible distractors; with the counts below, the chance baseline
    "n_same_char": np.int16,
    "n_same_alphabet": np.int16,
    "n_same_colour": np.int16,
    "n_near": np.int16,
}
RELATIONS = ("same_char", "same_alphabet", "same_colour", "near")


MASK_BITS = "mask_bits"  # optional field: uint8 [N, H*W/8], the bit-packed binarised predictions


@dataclass
class GlyphAnalysis:
    """Per-sample glyph analysis of some samples (equal-length arrays, see :data:`GLYPH_FIELDS`),
    optionally with the bit-packed predictions under :data:`MASK_BITS`."""

    fields: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.fields["index"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> GlyphAnalysis:
        """Coerce each field to its dtype; a missing field raises ``KeyError`` naming it."""
        fields = {k: np.asarray(arrays[k], dtype=t) for k, t in GLYPH_FIELDS.items()}
        if MASK_BITS in arrays:
            fields[MASK_BITS] = np.asarray(arrays[MASK_BITS], dtype=np.uint8)
        return cls(fields)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The fields keyed ``prefix + name`` (for ``np.savez``)."""
        return {prefix + k: v for k, v in self.fields.items()}

    @classmethod
    def from_npz(cls, data: Mapping[str, np.ndarray], prefix: str) -> GlyphAnalysis | None:
        """The fields stored under ``prefix`` in an open ``.npz``; None when it holds none."""
        if prefix + "index" not in data:
            return None
        names = [*GLYPH_FIELDS, *([MASK_BITS] if prefix + MASK_BITS in data else [])]
        return cls.from_arrays({k: data[prefix + k] for k in names})

    @staticmethod
    def merge(parts: list[GlyphAnalysis]) -> GlyphAnalysis:
        """Concatenate batches or shards and sort by sample index (as the scores are)."""
        names = [k for k in parts[0].fields if all(k in p.fields for p in parts)]
        joined = {k: np.concatenate([p.fields[k] for p in parts]) for k in names}
        order = np.argsort(joined["index"], kind="stable")
        return GlyphAnalysis({k: v[order] for k, v in joined.items()})


def analyze_batch(samples, pred: np.ndarray, *, masks: bool = False) -> GlyphAnalysis | None:
    """The runner's hook: analyse a scored batch (``Samples``-like, with ``instance_map``,
    ``table`` and ``char_alphabet``) from its binarised prediction bool [B,H,W], the mask the
    scores were computed from; None for a data source without per-glyph tables."""
    table = getattr(samples, "table", None)
    if not isinstance(table, np.ndarray) or not hasattr(samples, "char_alphabet"):
        return None
    result = analyze_glyphs(
        samples.index, pred, np.asarray(samples.instance_map), table, samples.char_alphabet
    )
    if masks:
        result.fields[MASK_BITS] = pack_masks(pred)
    return result


def _box_overlap(table: np.ndarray, t: np.ndarray) -> np.ndarray:
    """bool [B, L]: glyph box k intersects the box of row ``t`` (int64 [B, 12])."""
    from oneshotbench.generator.canonical import T_H, T_W, T_X, T_Y

    x, y, w, h = (table[..., c] for c in (T_X, T_Y, T_W, T_H))
    tx, ty, tw, th = (t[:, None, c] for c in (T_X, T_Y, T_W, T_H))
    return (x < tx + tw) & (tx < x + w) & (y < ty + th) & (ty < y + h)


def analyze_glyphs(
    index: np.ndarray,
    pred: np.ndarray,
    instance_map: np.ndarray,
    table: np.ndarray,
    char_alphabet: np.ndarray,
) -> GlyphAnalysis:
    """Analyse a batch: binarised predictions bool [B,H,W], instance maps [B,H,W] (0 background,
    k = k-th pasted glyph, the target = level), the kernel's per-glyph table [B, level, 12] and the
    alphabet of every character id."""
    # the table's columns live in the numba-compiled generator module: imported on first use,
    # so that importing the runner does not pay for numba
    from oneshotbench.generator.canonical import (
        T_B,
        T_CHAR,
        T_G,
        T_H,
        T_R,
        T_VISIBLE,
        T_W,
        T_X,
        T_Y,
    )

    n, level = table.shape[:2]
    bins = level + 1
    from oneshotbench.scoring_kernels import instance_counts

    counts = instance_counts(
        np.ascontiguousarray(instance_map), np.ascontiguousarray(pred, dtype=bool), bins
    )  # predicted pixels per (sample, instance): a per-sample bincount in one pass
    pred_pixels = counts.sum(axis=1)
    glyph_counts = counts[:, 1:]
    best = glyph_counts.argmax(axis=1)  # 0-based paste index; ties go to the lower one
    best_count = glyph_counts[np.arange(n), best]
    has_choice = (best_count > 0) & (best_count >= counts[:, 0])
    chosen = np.where(has_choice, best + 1, 0)
    detected = chosen == level

    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / pred_pixels[:, None].astype(np.float64)  # NaN rows for empty predictions
    table = table.astype(np.int64)
    rows = np.arange(n)
    chosen_row = table[rows, best]
    target = table[:, -1]
    visible = table[..., T_VISIBLE]
    union = pred_pixels + chosen_row[:, T_VISIBLE] - best_count
    chosen_iou = np.where(has_choice, best_count / np.maximum(union, 1), np.nan)

    # relations of every glyph to the target, for the chosen one and for the chance baseline
    alphabet = char_alphabet.astype(np.int64)[table[..., T_CHAR]]
    colour = table[..., [T_R, T_G, T_B]].astype(np.float64)
    colour_gap = np.linalg.norm(colour - colour[:, -1:], axis=2)
    relation = {
        "same_char": table[..., T_CHAR] == target[:, None, T_CHAR],
        "same_alphabet": alphabet == alphabet[:, -1:],
        "same_colour": colour_gap < SIMILAR_COLOUR,
        "near": _box_overlap(table, target),
    }
    centre = table[..., [T_X, T_Y]] + table[..., [T_W, T_H]] / 2.0
    distance = np.linalg.norm(centre - centre[:, -1:], axis=2)
    distractor = (visible > 0) & (np.arange(level) < level - 1)
    chose_distractor = has_choice & ~detected
    neighbours = distractor & relation["near"]
    contrast = np.where(neighbours, colour_gap, np.inf).min(axis=1)
    contrast = np.where(np.isinf(contrast), np.linalg.norm(colour[:, -1], axis=1), contrast)

    fields = {
        "index": np.asarray(index),
        "pred_pixels": pred_pixels,
        "chosen": chosen,
        "detected": detected,
        "share_target": share[:, -1],
        "share_distractors": share[:, 1:-1].sum(axis=1),
        "share_background": share[:, 0],
        "chosen_iou": chosen_iou,
        **{k: chose_distractor & v[rows, best] for k, v in relation.items()},
        "distance": np.where(has_choice, distance[rows, best], np.nan),
        "target_visible": target[:, T_VISIBLE],
        "target_size": np.maximum(target[:, T_W], target[:, T_H]),
        "target_clutter": neighbours.sum(axis=1),
        "target_contrast": contrast,
        "n_distractors": distractor.sum(axis=1),
        **{f"n_{k}": (distractor & v).sum(axis=1) for k, v in relation.items()},
    }
    return GlyphAnalysis.from_arrays(fields)


def pack_masks(pred: np.ndarray) -> np.ndarray:
    """Bit-packed binarised predictions, uint8 [B, H*W/8] (``np.packbits`` per sample)."""
    return np.packbits(pred.reshape(len(pred), -1), axis=1)


def unpack_masks(bits: np.ndarray, size: int = 96) -> np.ndarray:
    """Inverse of :func:`pack_masks` for square ``size`` x ``size`` masks."""
    flat = np.unpackbits(bits, axis=1, count=size * size)
    return flat.reshape(len(bits), size, size).astype(bool)
