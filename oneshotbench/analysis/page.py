"""The analysis report: figures and a static ``index.html`` for one or more records, side by side.

:func:`build_report` is the Python API behind ``oneshotbench analyze``. Galleries regenerate each
shown sample's scene, target and ground truth from the registry by its index (records store split,
level and indices, never pixels); a private split cannot be regenerated without its secret, so its
gallery is skipped with a note saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from oneshotbench.analysis.figures import difficulty_figure, gallery_figure, gallery_picks
from oneshotbench.analysis.summary import AnalysedRecord, summarize
from oneshotbench.errors import OneshotbenchError
from oneshotbench.glyph_analysis import MASK_BITS, unpack_masks

CURVE_FORMATS = ("png", "svg", "pdf")


@dataclass
class Report:
    """What :func:`build_report` computed and wrote."""

    summaries: list[dict]
    mean_iou: dict[str, dict[str, float]]  # record path -> level -> mean IoU (fraction)
    oracle: dict[str, dict[str, float | None]]  # record path -> level -> IoU / oracle IoU
    index: Path | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def default_out_dir(record: Path) -> Path:
    """``<record stem>.analysis/`` beside the record."""
    return Path(record).with_name(f"{Path(record).stem}.analysis")


def oracle_normalised(analysed: AnalysedRecord, oracle: AnalysedRecord) -> dict[str, float | None]:
    """Per shared level: mean IoU as a fraction of the oracle's on the same samples (None when
    the oracle scores 0); levels whose samples differ are refused."""
    ratios: dict[str, float | None] = {}
    for level in sorted(analysed.scores.keys() & oracle.scores.keys()):
        mine, theirs = analysed.scores[level], oracle.scores[level]
        same_split = analysed.record["dataset"].get("fingerprints", {}).get(str(level)) == (
            oracle.record["dataset"].get("fingerprints", {}).get(str(level))
        )
        if not same_split or not np.array_equal(mine.index, theirs.index):
            raise OneshotbenchError(
                f"oracle record {oracle.path} does not score the same samples as {analysed.path} "
                f"at level {level}; evaluate both on the same split, levels and --samples"
            )
        reference = float(np.mean(theirs.iou))
        ratios[str(level)] = float(np.mean(mine.iou)) / reference if reference > 0 else None
    return ratios


OpenSplit = Callable[[str, int, int], Any]
"""(split, level, dataset version) -> a split with ``get(indices)`` and ``fingerprint``."""


def open_registered(omniglot: Path | None) -> OpenSplit:
    """The registry's splits, with Omniglot from ``omniglot`` (default: the cache)."""

    def open_split(split: str, level: int, version: int):
        from oneshotbench.datasets import load_split  # heavy: only when a gallery is drawn

        return load_split(split, level, version=version, omniglot=omniglot)

    return open_split


def _gallery_source(analysed: AnalysedRecord, open_split: OpenSplit):
    """The record's split per level, or a note saying why there is no gallery."""
    dataset = analysed.record["dataset"]
    if not analysed.has_masks:
        return None, f"{analysed.path}: no gallery — evaluate with --save-masks to keep predictions"
    if dataset.get("private"):
        return None, (
            f"{analysed.path}: no gallery — its split is private; the scenes can only be "
            "regenerated with the secret seed file, which a record never stores"
        )
    if dataset.get("name") != "cluttered-omniglot":
        name = dataset.get("name")
        return None, f"{analysed.path}: no gallery — dataset {name!r} is not in the registry"
    splits = {}
    for level in sorted(analysed.glyphs):
        split = open_split(dataset["split"], level, dataset["version"])
        if split.fingerprint != dataset["fingerprints"].get(str(level)):
            return None, (
                f"{analysed.path}: no gallery — the regenerated {dataset['split']} split at level "
                f"{level} does not match the record's fingerprint (other Omniglot data?), so it "
                "would show other scenes"
            )
        splits[level] = split
    return splits, None


def _galleries(analysed: AnalysedRecord, out: Path, stem: str, size: int, open_split) -> tuple:
    splits, note = _gallery_source(analysed, open_split)
    if splits is None:
        return [], [note]
    shown = []
    for level, split in splits.items():
        glyphs, scores = analysed.glyphs[level], analysed.scores[level]
        for kind, picks in gallery_picks(
            scores.iou, glyphs["detected"], glyphs["target_visible"], size
        ).items():
            if not len(picks):
                continue
            samples = split.get(scores.index[picks])
            captions = [
                f"#{i}  IoU {iou:.2f}  chose {_chosen_text(c, level)}"
                for i, iou, c in zip(
                    samples.index, scores.iou[picks], glyphs["chosen"][picks], strict=True
                )
            ]
            figure = gallery_figure(
                f"{analysed.name}, level {level}: {kind} failures",
                samples.scene,
                samples.target,
                samples.mask,
                samples.instance_map,
                unpack_masks(glyphs[MASK_BITS][picks]),
                glyphs["chosen"][picks],
                captions,
            )
            path = out / f"{stem}-L{level}-{kind}.png"
            figure.savefig(path, dpi=90)
            shown.append({"level": level, "kind": kind, "file": path.name})
    return shown, []


def _chosen_text(chosen: int, level: int) -> str:
    if chosen == 0:
        return "nothing"
    return "the target" if chosen == level else f"distractor {chosen}"


def build_report(
    records: list[AnalysedRecord],
    out: Path,
    *,
    oracle: AnalysedRecord | None = None,
    gallery_size: int = 4,
    open_split: OpenSplit | None = None,
) -> Report:
    """Summaries, oracle ratios, difficulty curves (PNG/SVG/PDF), galleries and ``index.html``.

    ``open_split`` regenerates gallery scenes (default: the registry with the cached Omniglot).
    """
    open_split = open_split or open_registered(None)
    report = Report(
        summaries=[summarize(r) for r in records],
        mean_iou={
            str(r.path): {str(lv): float(np.mean(s.iou)) for lv, s in r.scores.items()}
            for r in records
        },
        oracle={str(r.path): oracle_normalised(r, oracle) for r in records} if oracle else {},
    )
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for position, analysed in enumerate(records):
        stem = f"{position}-{analysed.path.stem}"
        curves = out / f"{stem}-difficulty"
        figure = difficulty_figure(analysed)
        for fmt in CURVE_FORMATS:
            figure.savefig(curves.with_suffix(f".{fmt}"), dpi=100)
            report.files.append(curves.with_suffix(f".{fmt}"))
        galleries, notes = _galleries(analysed, out, stem, gallery_size, open_split)
        report.files += [out / g["file"] for g in galleries]
        report.notes += notes
        sections.append(
            {"name": analysed.name, "curves": curves.name + ".png", "galleries": galleries}
        )
    page = _TEMPLATE.render(
        summaries=report.summaries,
        mean_iou=report.mean_iou,
        oracle=report.oracle,
        oracle_name=oracle.name if oracle else None,
        sections=sections,
        notes=report.notes,
    )
    report.index = out / "index.html"
    report.index.write_text(page, encoding="utf-8")
    return report


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["pct"] = _percent
_TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oneshotbench analysis</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%}.note{color:#805500}
</style></head><body>
<h1>Why models fail: detection or segmentation</h1>
<p>A sample is <b>detected</b> when the pasted glyph holding most of its predicted pixels is the
target (none is chosen when the prediction is empty or background holds more predicted pixels).
Mean IoU = P(detected)·IoU|detected + P(missed)·IoU|missed. All figures in %.
Shares are of the predicted pixels, over samples with a non-empty prediction.</p>
<table><tr><th>model</th><th>level</th><th>n</th><th>mean IoU</th><th>detected</th>
<th>IoU | detected</th><th>IoU | missed</th><th>share target</th><th>share distractors</th>
<th>share background</th>{% if oracle %}<th>IoU / {{ oracle_name }}</th>{% endif %}</tr>
{% for s in summaries %}{% for level, e in s.levels.items() %}
<tr><td>{{ s.name }}</td><td>{{ level }}</td><td>{{ e.n }}</td>
<td>{{ mean_iou[s.record][level] | pct }}</td><td>{{ e.detection_rate | pct }}</td>
<td>{{ e.iou_detected | pct }}</td><td>{{ e.iou_missed | pct }}</td>
<td>{{ e.pred_share_target | pct }}</td><td>{{ e.pred_share_distractors | pct }}</td>
<td>{{ e.pred_share_background | pct }}</td>
{% if oracle %}<td>{{ oracle[s.record].get(level) | pct }}</td>{% endif %}</tr>
{% endfor %}{% endfor %}</table>
<h2>Confusions among misses</h2>
<p>Of the misses that chose a distractor: the share whose chosen glyph has the same character,
the same alphabet, a similar colour, or a box overlapping the target's, against chance (the same
share for a distractor drawn uniformly from that sample's visible distractors).</p>
<table><tr><th>model</th><th>level</th><th>misses</th><th>chose nothing</th>
<th>chose a distractor</th><th>same character</th><th>same alphabet</th><th>same colour</th>
<th>near neighbour</th></tr>
{% for s in summaries %}{% for level, e in s.levels.items() %}{% set c = e.confusions %}
<tr><td>{{ s.name }}</td><td>{{ level }}</td><td>{{ c.misses }}</td><td>{{ c.chose_nothing }}</td>
<td>{{ c.chose_distractor }}</td>
{% for key in ("same_character", "same_alphabet", "same_colour", "near_neighbour") %}
<td>{{ c[key].observed | pct }} (chance {{ c[key].chance | pct }})</td>
{% endfor %}</tr>
{% endfor %}{% endfor %}</table>
{% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
{% for section in sections %}
<h2>{{ section.name }}</h2>
<img src="{{ section.curves }}" alt="difficulty curves of {{ section.name }}">
{% for g in section.galleries %}
<h3>Level {{ g.level }}: {{ g.kind }} failures</h3>
<img src="{{ g.file }}" alt="{{ g.kind }} failures at level {{ g.level }}">
{% endfor %}{% endfor %}
</body></html>
"""
)
