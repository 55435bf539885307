"""Paper-style reports from result records: Tables 1 and 2 (models x clutter levels) and Fig. 4.

Pure functions turn records into DataFrames, strings and matplotlib figures; :func:`write_report`
is the thin shell that puts them on disk. Cells read ``62.2 ± 1.3`` where ± is half the width of
the record's 95% bootstrap interval; the CSV carries the exact interval bounds instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from oneshotbench.cache import atomic_write_bytes
from oneshotbench.errors import OneshotbenchError
from oneshotbench.published import published_frame


@dataclass(frozen=True)
class TableSpec:
    """One report table: which per-level score it shows and under which title and file stem."""

    metric: str  # key in a record's level entries ("iou", "loc", "loc_strict")
    stem: str
    title: str
    axis_label: str


TABLES = (
    TableSpec("iou", "table1_iou", "Table 1: segmentation accuracy (IoU, %)", "IoU (%)"),
    TableSpec(
        "loc",
        "table2_localization",
        "Table 2: localization accuracy (%)",
        "localization accuracy (%)",
    ),
    TableSpec(
        "loc_strict",
        "table2b_localization_strict",
        "Table 2b: localization accuracy, an empty prediction is a miss (%)",
        "strict localization accuracy (%)",
    ),
)
FORMATS = ("md", "csv", "tex")
MISSING = "–"


def model_label(record: dict) -> str:
    """Row label of a record: the submission name, marked when ground truth was read."""
    name = record["submission"]["name"]
    return f"{name} (oracle)" if record.get("oracle") else name


def dataset_title(record: dict) -> str:
    """What the scores were measured on, e.g. ``cluttered-omniglot v1, test-one-shot``."""
    data = record.get("dataset", {})
    title = f"{data.get('name', '?')} v{data.get('version', '?')}, {data.get('split', '?')}"
    return f"{title} (private split)" if data.get("private") else title


def model_labels(records: list[dict]) -> list[str]:
    """Row labels, numbered (``name #2``) where two records would otherwise share one."""
    seen: dict[str, int] = {}
    labels = []
    for record in records:
        label = model_label(record)
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return labels


def scores_frame(records: list[dict], paper: bool = False) -> pd.DataFrame:
    """Tidy table of every score: model, oracle, level, metric, value, ci_low, ci_high (in %).

    ``paper`` appends the published rows (:mod:`oneshotbench.published`) at the records' levels.
    """
    rows = [
        {
            "model": label,
            "oracle": bool(record.get("oracle")),
            "level": int(entry["level"]),
            "metric": spec.metric,
            "value": entry[spec.metric],
            "ci_low": entry[f"{spec.metric}_ci"][0],
            "ci_high": entry[f"{spec.metric}_ci"][1],
        }
        for label, record in zip(model_labels(records), records, strict=True)
        for entry in record["levels"]
        for spec in TABLES
    ]
    columns = ["model", "oracle", "level", "metric", "value", "ci_low", "ci_high"]
    frame = pd.DataFrame(rows, columns=columns)
    if not paper:
        return frame
    levels = tuple(sorted(frame["level"].unique()))
    return pd.concat([frame, published_frame(levels)], ignore_index=True)


def _pivot(frame: pd.DataFrame, metric: str, column: str) -> pd.DataFrame:
    """Models x levels for one metric, models in record order, levels ascending."""
    part = frame[frame["metric"] == metric]
    table = part.pivot(index="model", columns="level", values=column)
    return table.reindex(index=list(dict.fromkeys(part["model"])), columns=sorted(table.columns))


def cell_table(
    frame: pd.DataFrame, metric: str, pm: str = "±", missing: str = MISSING
) -> pd.DataFrame:
    """Models x levels of display strings ``value pm half-width`` (one decimal; the value alone
    where there is no interval, as for published rows)."""
    value = _pivot(frame, metric, "value")
    half = (_pivot(frame, metric, "ci_high") - _pivot(frame, metric, "ci_low")) / 2
    cells = value.copy().astype(object)
    for level in value.columns:
        cells[level] = [
            missing if np.isnan(v) else f"{v:.1f}" if np.isnan(h) else f"{v:.1f} {pm} {h:.1f}"
            for v, h in zip(value[level], half[level], strict=True)
        ]
    return cells


def markdown_table(cells: pd.DataFrame, corner: str = "model") -> str:
    """A GitHub-flavoured Markdown table of a string DataFrame (index as first column)."""

    def row(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    header = row([corner, *map(str, cells.columns)])
    rule = "|" + "|".join(["---", *["---:"] * len(cells.columns)]) + "|"
    body = [row([str(i), *map(str, r)]) for i, r in zip(cells.index, cells.values, strict=True)]
    return "\n".join([header, rule, *body]) + "\n"


def table_markdown(records: list[dict], spec: TableSpec, paper: bool = False) -> str:
    """One table as Markdown with its title as a heading."""
    cells = cell_table(scores_frame(records, paper), spec.metric)
    return f"### {spec.title} — {dataset_title(records[0])}\n\n{markdown_table(cells)}"


def table_csv(records: list[dict], spec: TableSpec, paper: bool = False) -> str:
    """One table as CSV: a row per model with value, ci_low and ci_high columns per level."""
    frame = scores_frame(records, paper)
    parts = {
        name: _pivot(frame, spec.metric, name).add_suffix(suffix)
        for name, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high"))
    }
    levels = parts["value"].columns
    ordered = [f"{lv}{suffix}" for lv in levels for suffix in ("", "_ci_low", "_ci_high")]
    wide = pd.concat(parts.values(), axis=1)
    wide.columns = wide.columns.map(str)
    oracle = frame.drop_duplicates("model").set_index("model")["oracle"]
    wide.insert(0, "oracle", oracle.reindex(wide.index))
    return wide[["oracle", *ordered]].to_csv(index_label="model", float_format="%.4f")


def table_latex(records: list[dict], spec: TableSpec, paper: bool = False) -> str:
    """One table as a LaTeX ``tabular`` (booktabs rules) with the title as a comment."""
    cells = cell_table(scores_frame(records, paper), spec.metric, pm=r"$\pm$", missing="--")
    cells.columns = cells.columns.map(str)
    table = cells.rename_axis(index="Model", columns=None).reset_index()
    styler = table.style.hide(axis="index").format(escape="latex", subset=["Model"])
    body = styler.to_latex(hrules=True, column_format="l" + "r" * len(cells.columns))
    return f"% {spec.title}\n{body}"


def scores_figure(records: list[dict], paper: bool = False) -> Figure:
    """Fig. 4-style panels: IoU and localization vs clutter level (log2 axis), CI bands;
    published rows dotted."""
    frame = scores_frame(records, paper)
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, spec in zip(axes, TABLES[:2], strict=True):
        part = frame[frame["metric"] == spec.metric]
        for model, rows in part.groupby("model", sort=False):
            rows = rows.sort_values("level")
            published = str(model).startswith("paper: ")
            style = ":" if published else "--" if rows["oracle"].iloc[0] else "-"
            marker = "x" if published else "o"
            (line,) = ax.plot(rows["level"], rows["value"], style, marker=marker, label=model)
            ax.fill_between(
                rows["level"], rows["ci_low"], rows["ci_high"], color=line.get_color(), alpha=0.2
            )
        levels = sorted(part["level"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [str(lv) for lv in levels])
        ax.minorticks_off()
        ax.set_ylim(0, 100)
        ax.set_xlabel("number of characters in the scene")
        ax.set_ylabel(spec.axis_label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.suptitle(dataset_title(records[0]))
    return figure


def _figure_bytes(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=150)
    return buffer.getvalue()


def report_texts(
    records: list[dict], formats: tuple[str, ...], paper: bool = False
) -> dict[str, str]:
    """File name -> content of every table in every requested format."""
    render = {"md": table_markdown, "csv": table_csv, "tex": table_latex}
    return {
        f"{spec.stem}.{fmt}": render[fmt](records, spec, paper)
        for spec in TABLES
        for fmt in formats
    }


def write_files(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write ``name -> content`` into ``out_dir`` atomically; unwritable paths are user errors."""
    written = []
    for name, data in files.items():
        path = Path(out_dir) / name
        try:
            atomic_write_bytes(path, data)
        except OSError as err:
            raise OneshotbenchError(f"cannot write {path}: {err.strerror or err}") from err
        written.append(path)
    return written


def write_report(
    records: list[dict],
    out_dir: Path,
    formats: tuple[str, ...] = FORMATS,
    plots: bool = True,
    paper: bool = False,
) -> list[Path]:
    """Write the tables (and ``scores.png``, ``scores.svg``) into ``out_dir``; return the paths."""
    texts = report_texts(records, formats, paper)
    files = {name: text.encode("utf-8") for name, text in texts.items()}
    if plots:
        figure = scores_figure(records, paper)
        files.update({f"scores.{fmt}": _figure_bytes(figure, fmt) for fmt in ("png", "svg")})
    return write_files(files, out_dir)
