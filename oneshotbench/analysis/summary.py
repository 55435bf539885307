"""Per-level summaries of a record's glyph analysis: detection vs segmentation, confusions, curves.

Reads a record (checked by :func:`oneshotbench.records.load_record`) and the glyph fields of its
side file; everything else here is arithmetic on those arrays. Fractions are in [0, 1]; a
statistic over an empty set of samples is ``None``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oneshotbench.errors import OneshotbenchError
from oneshotbench.glyph_analysis import RELATIONS, GlyphAnalysis
from oneshotbench.metrics import PerSampleScores
from oneshotbench.records import load_record

CONFUSION_NAMES = {
    "same_char": "same_character",
    "same_alphabet": "same_alphabet",
    "same_colour": "same_colour",
    "near": "near_neighbour",
}
DIFFICULTY = {
    "target_size": "target size (px, longer side of its box)",
    "target_visible": "visible target pixels",
    "target_clutter": "distractors overlapping the target's box",
}


@dataclass
class AnalysedRecord:
    """A record with, per level, its per-sample scores and glyph analysis (aligned by index)."""

    path: Path
    record: dict
    scores: dict[int, PerSampleScores]
    glyphs: dict[int, GlyphAnalysis]

    @property
    def name(self) -> str:
        name = self.record["submission"].get("name") or Path(self.record["submission"]["file"]).stem
        return name + (" (oracle)" if self.record.get("oracle") else "")

    @property
    def has_masks(self) -> bool:
        return all("mask_bits" in g.fields for g in self.glyphs.values())


def load_analysed(path: Path) -> AnalysedRecord:
    """Read a record and its glyph analysis; a record without one is refused (re-evaluate it)."""
    path = Path(path)
    record, scores = load_record(path)
    side = path.with_name(record["per_sample"]["file"])
    glyphs: dict[int, GlyphAnalysis] = {}
    try:
        with np.load(side) as data:
            for level in scores:
                found = GlyphAnalysis.from_npz(data, f"level{level}_glyph_")
                if found is None:
                    raise OneshotbenchError(
                        f"result record {path} holds no glyph analysis for level {level} (it was "
                        "evaluated before oneshotbench stored one, or with --no-analysis); "
                        "re-evaluate the submission to analyse it"
                    )
                glyphs[level] = found
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise OneshotbenchError(f"glyph analysis in {side} is unreadable: {err}") from err
    for level, found in glyphs.items():
        if not np.array_equal(found["index"], scores[level].index):
            raise OneshotbenchError(
                f"glyph analysis in {side} does not match the scores of level {level} "
                "(different samples); re-evaluate the submission"
            )
    return AnalysedRecord(path, record, scores, glyphs)


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def confusions(glyphs: GlyphAnalysis) -> dict:
    """Misses broken down by what was chosen, and relations of chosen distractors vs chance.

    Chance for a relation: for every miss that chose a distractor, the share of that sample's
    visible distractors having the relation to the target (a uniformly random visible distractor),
    averaged over those misses.
    """
    missed = ~glyphs["detected"]
    chose = missed & (glyphs["chosen"] > 0)
    n_other = glyphs["n_distractors"][chose].astype(np.float64)
    entry: dict = {
        "misses": int(missed.sum()),
        "chose_nothing": int((missed & (glyphs["chosen"] == 0)).sum()),
        "chose_distractor": int(chose.sum()),
    }
    for relation in RELATIONS:
        chance = glyphs[f"n_{relation}"][chose] / np.maximum(n_other, 1)
        entry[CONFUSION_NAMES[relation]] = {
            "observed": _mean(glyphs[relation][chose]),
            "chance": _mean(chance),
        }
    return entry


def level_summary(scores: PerSampleScores, glyphs: GlyphAnalysis) -> dict:
    """The ``--json`` entry of one level (see the README): detection, conditional IoUs, shares."""
    detected = glyphs["detected"]
    predicted = glyphs["pred_pixels"] > 0
    return {
        "n": len(scores),
        "detection_rate": _mean(detected),
        "iou_detected": _mean(scores.iou[detected]),
        "iou_missed": _mean(scores.iou[~detected]),
        "pred_share_target": _mean(glyphs["share_target"][predicted]),
        "pred_share_distractors": _mean(glyphs["share_distractors"][predicted]),
        "pred_share_background": _mean(glyphs["share_background"][predicted]),
        "confusions": confusions(glyphs),
    }


def summarize(analysed: AnalysedRecord) -> dict:
    """``{"record", "name", "levels": {"4": entry, ...}}`` for the ``--json`` output."""
    return {
        "record": str(analysed.path),
        "name": analysed.name,
        "levels": {
            str(level): level_summary(analysed.scores[level], analysed.glyphs[level])
            for level in sorted(analysed.scores)
        },
    }


def difficulty_curve(
    values: np.ndarray, outcome: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean ``outcome`` per bin of ``values`` (bins ``[e_i, e_i+1)``, the last one closed).

    Returns the mean value in each bin (its x position), the mean outcome (NaN for empty bins)
    and the counts.
    """
    where = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(where, minlength=len(edges) - 1)
    x = np.bincount(where, weights=values.astype(np.float64), minlength=len(edges) - 1)
    sums = np.bincount(where, weights=outcome.astype(np.float64), minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return x / counts, sums / counts, counts


def difficulty_edges(values: list[np.ndarray], bins: int = 8) -> np.ndarray:
    """Common bin edges for all levels: every value when there are few distinct ones, else
    quantiles of the pooled values (duplicates removed)."""
    pooled = np.concatenate(values).astype(np.float64)
    distinct = np.unique(pooled)
    if len(distinct) <= bins:
        return np.append(distinct, distinct[-1] + 1)
    return np.unique(np.quantile(pooled, np.linspace(0, 1, bins + 1)))
