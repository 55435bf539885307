"""Figures of the analysis: difficulty curves and failure galleries (matplotlib, no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure` built on the Agg canvas; the caller
saves it in whatever formats it wants.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from oneshotbench.analysis.summary import (
    DIFFICULTY,
    AnalysedRecord,
    difficulty_curve,
    difficulty_edges,
)

OUTCOMES = {"iou": "mean IoU", "detected": "detection rate"}


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def difficulty_figure(analysed: AnalysedRecord) -> Figure:
    """IoU and detection rate against target size, visible pixels and clutter, one line per level.

    Bins are quantiles of the values pooled over levels; bins with fewer than 5 samples of a level
    are left out of that level's line.
    """
    levels = sorted(analysed.glyphs)
    figure = _figure(4.2 * len(DIFFICULTY), 6.4)
    axes = figure.subplots(len(OUTCOMES), len(DIFFICULTY), squeeze=False)
    colours = colormaps["viridis"](np.linspace(0, 0.9, max(len(levels), 1)))
    for column, (field, label) in enumerate(DIFFICULTY.items()):
        edges = difficulty_edges([analysed.glyphs[level][field] for level in levels])
        for row, (outcome, outcome_label) in enumerate(OUTCOMES.items()):
            ax = axes[row, column]
            for colour, level in zip(colours, levels, strict=True):
                glyphs = analysed.glyphs[level]
                values = analysed.scores[level].iou if outcome == "iou" else glyphs["detected"]
                x, mean, count = difficulty_curve(glyphs[field], values, edges)
                keep = count >= 5
                ax.plot(x[keep], mean[keep], "o-", color=colour, ms=3, label=f"{level}")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            ax.set_xlabel(label)
            if column == 0:
                ax.set_ylabel(outcome_label)
    axes[0, -1].legend(title="level", fontsize="small", loc="best")
    figure.suptitle(f"{analysed.name}: difficulty of the target")
    return figure


def _outline(ax, region: np.ndarray, colour: str) -> None:
    if region.any():
        ax.contour(region.astype(float), levels=[0.5], colors=colour, linewidths=1.0)


def gallery_figure(
    title: str,
    scene: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    instance_map: np.ndarray,
    pred: np.ndarray,
    chosen: np.ndarray,
    captions: list[str],
) -> Figure:
    """One row per sample: target, scene, ground truth, prediction over the scene (predicted
    pixels in white, the chosen glyph outlined in orange, the target outlined in cyan)."""
    rows = len(scene)
    figure = _figure(8.0, 2.1 * rows + 0.4)
    axes = figure.subplots(rows, 4, squeeze=False)
    headers = ("target", "scene", "ground truth", "prediction, chosen glyph")
    for row in range(rows):
        overlay = scene[row].astype(np.float64) / 255 * 0.3
        overlay[pred[row]] = 1.0
        panels = (target[row], scene[row], mask[row], overlay)
        for column, image in enumerate(panels):
            ax = axes[row, column]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(headers[column], fontsize=9)
        axes[row, 3].set_xlabel(captions[row], fontsize=8)
        _outline(axes[row, 3], mask[row], "cyan")
        if chosen[row] > 0:
            _outline(axes[row, 3], instance_map[row] == chosen[row], "orange")
    figure.suptitle(
        f"{title}\nwhite: predicted pixels; orange outline: chosen glyph; cyan outline: target",
        fontsize=9,
    )
    return figure


def gallery_picks(iou: np.ndarray, detected: np.ndarray, visible: np.ndarray, n: int) -> dict:
    """Positions of the worst failures (lowest IoU; among ties, the most visible targets first)
    and of typical ones (misses, or all samples when none, nearest their median IoU)."""
    shown = np.flatnonzero(visible > 0)
    worst = shown[np.lexsort((-visible[shown], iou[shown]))][:n]
    pool = np.setdiff1d(np.flatnonzero(~detected & (visible > 0)), worst)
    if not len(pool):
        pool = np.setdiff1d(shown, worst)
    typical = pool[np.argsort(np.abs(iou[pool] - np.median(iou[pool])), kind="stable")][:n]
    return {"worst": worst, "typical": np.sort(typical)} if len(pool) else {"worst": worst}
