"""Fig. 4-style plot: scores against clutter level, one colour and marker per model.

A model keeps its colour and marker in every panel, and the paper's row of a model takes the
colour of the submission that reimplements it (dotted, open markers), so one legend, outside
the axes, serves both panels. Rows scored at one level are drawn as points with error bars;
rows over several levels as lines with CI bands. SVG and PDF keep their text as text.
"""

from __future__ import annotations

import io
import re
from html import escape

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

FIGURE_FORMATS = ("png", "pdf", "svg")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
# tab10 and four more dark colours: 14 colours x 7 markers give 98 distinct styles
EXTRA_COLOURS = ("#000000", "#6a3d9a", "#b15928", "#1b9e77")
_RC = {"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "oneshotbench"}
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


def model_styles(families: list[str]) -> dict[str, tuple[tuple, str]]:
    """Family -> (colour, marker), in order of first appearance; unique for up to 98 families."""
    colours = [*mpl.colormaps["tab10"].colors, *EXTRA_COLOURS]
    return {
        family: (colours[i % len(colours)], MARKERS[i % len(MARKERS)])
        for i, family in enumerate(dict.fromkeys(families))
    }


def _series_label(model: str, rows: pd.DataFrame) -> str:
    if rows["published"].iloc[0]:
        return f"{model} (published)"
    counts = rows["n"].dropna().astype(int)
    low, high = counts.min(), counts.max()
    return f"{model} (n={low:,})" if low == high else f"{model} (n={low:,}–{high:,})"


def _draw(ax, rows: pd.DataFrame, label: str, colour, marker: str) -> None:
    """One model's series: dotted open markers when published, dashed for oracles, CIs."""
    published, oracle = bool(rows["published"].iloc[0]), bool(rows["oracle"].iloc[0])
    style = ":" if published else "--" if oracle else "-"
    face = "none" if published else colour
    x, y = rows["level"].to_numpy(), rows["value"].to_numpy()
    low, high = rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy()
    has_ci = not np.isnan(low).all()
    if len(rows) == 1 and has_ci:
        ax.errorbar(
            x, y, yerr=[y - low, high - y], fmt=marker, color=colour, capsize=4, label=label
        )
        return
    ax.plot(x, y, style, marker=marker, color=colour, markerfacecolor=face, label=label)
    if has_ci:
        ax.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)


def scores_figure(frame: pd.DataFrame, title: str, panels: list[tuple[str, str]]) -> Figure:
    """Panels of ``(metric, axis label)`` from a tidy scores frame (``reports.scores_frame``):
    score vs clutter level on a log2 axis, and one legend to the right of the panels."""
    styles = model_styles(list(frame["family"]))
    figure = Figure(figsize=(13, 4.8), layout="constrained")
    axes = figure.subplots(1, len(panels))
    handles: dict[str, object] = {}
    order: list[str] = []  # legend labels in the frame's row order (records, then the paper)
    for ax, (metric, axis_label) in zip(np.atleast_1d(axes), panels, strict=True):
        part = frame[frame["metric"] == metric]
        for model, rows in part.groupby("model", sort=False):
            rows = rows.sort_values("level")
            colour, marker = styles[rows["family"].iloc[0]]
            label = _series_label(str(model), rows)
            _draw(ax, rows, label, colour, marker)
            order.append(label)
        levels = sorted(frame["level"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(lv) for lv in levels])
        ax.minorticks_off()
        ax.set_ylim(-3, 101)  # a score of 0 stays visible above the x axis
        ax.set_xlabel("number of characters in the scene")
        ax.set_ylabel(axis_label)
        ax.grid(alpha=0.3)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    labels = [label for label in dict.fromkeys(order) if label in handles]
    figure.legend(
        [handles[label] for label in labels], labels, loc="outside right upper", fontsize="small"
    )
    figure.suptitle(title)
    return figure


def figure_bytes(figure: Figure, fmt: str, salt: str = "oneshotbench") -> bytes:
    """The figure as PNG, PDF or SVG; text stays text (SVG ``<text>``, PDF TrueType), and the
    output is reproducible (fixed id salt, no dates)."""
    buffer = io.BytesIO()
    with mpl.rc_context({**_RC, "svg.hashsalt": salt}):
        figure.savefig(buffer, format=fmt, dpi=150, metadata=_METADATA[fmt])
    return buffer.getvalue()


def inline_svg(figure: Figure, salt: str, label: str) -> str:
    """The figure as an SVG element for an HTML5 page: XML prolog and doctype stripped, ids
    salted with ``salt`` (unique per figure on a page), ``role="img"`` with ``label``."""
    text = figure_bytes(figure, "svg", salt).decode("utf-8")
    svg = re.sub(r"^.*?(?=<svg\b)", "", text, count=1, flags=re.DOTALL)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
