"""Paper-style reports from result records: Tables 1 and 2 (models x clutter levels) and Fig. 4.

Pure functions turn records into DataFrames, strings and matplotlib figures; :func:`write_report`
is the thin shell that puts them on disk. Cells read ``62.2 ± 1.3`` where ± is half the width of
the record's 95% bootstrap interval; the CSV carries the exact interval bounds instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from oneshotbench.cache import atomic_write_bytes
from oneshotbench.errors import OneshotbenchError
from oneshotbench.figures import FIGURE_FORMATS, figure_bytes, scores_figure
from oneshotbench.published import published_frame
from oneshotbench.rows import merge_rows, submission_name


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
    name = submission_name(record)
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


# published model -> the submission that reimplements it (they share a colour in plots)
PAPER_SUBMISSIONS = {
    "pattern matching": "template_matching",
    "p-seg. discriminator": "oracle_presegmented",
    "clutt. discriminator": "oracle_cluttered",
    "best seg. proposal": "oracle_best_proposal",
    "siamese u-net": "siamese_unet",
    "masknet": "masknet",
    "masknet untargeted": "masknet_untargeted",
}
COLUMNS = ["model", "family", "published", "oracle", "level", "n", "metric", "value", "ci_low"]
COLUMNS += ["ci_high"]


def _published(levels: tuple[int, ...]) -> pd.DataFrame:
    """The paper's rows, oracle rows labelled as ours are, with the family of each model."""
    frame = published_frame(levels)
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    name = frame["model"].str.removeprefix("paper: ")
    frame["family"] = name.map(lambda n: PAPER_SUBMISSIONS.get(n, n))
    frame["model"] = frame["model"].where(~frame["oracle"], frame["model"] + " (oracle)")
    frame["published"] = True
    frame["n"] = np.nan
    return frame[COLUMNS]


def scores_frame(records: list[dict], paper: bool = False) -> pd.DataFrame:
    """Tidy table of every score: model, family (colour key), published, oracle, level, n,
    metric, value, ci_low, ci_high (in %). Records of one model row are merged first
    (:func:`oneshotbench.rows.merge_rows`).

    ``paper`` appends the published rows (:mod:`oneshotbench.published`) at the records' levels.
    """
    rows_ = merge_rows(records)
    rows = [
        {
            "model": label,
            "family": submission_name(record),
            "published": False,
            "oracle": bool(record.get("oracle")),
            "level": int(entry["level"]),
            "n": entry.get("n", np.nan),
            "metric": spec.metric,
            "value": entry[spec.metric],
            "ci_low": entry[f"{spec.metric}_ci"][0],
            "ci_high": entry[f"{spec.metric}_ci"][1],
        }
        for label, record in zip(model_labels(rows_), rows_, strict=True)
        for entry in record["levels"]
        for spec in TABLES
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    if not paper:
        return frame
    levels = tuple(sorted(frame["level"].unique()))
    return pd.concat([frame, _published(levels)], ignore_index=True)


def n_text(counts: pd.Series) -> str:
    """Samples per level of one row: ``1,000``, a range ``200–1,000``, or ``–`` when unknown."""
    counts = counts.dropna()
    if counts.empty:
        return MISSING
    low, high = int(counts.min()), int(counts.max())
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _pivot(frame: pd.DataFrame, metric: str, column: str) -> pd.DataFrame:
    """Models x levels for one metric, models in record order, levels ascending."""
    part = frame[frame["metric"] == metric]
    table = part.pivot(index="model", columns="level", values=column)
    return table.reindex(index=list(dict.fromkeys(part["model"])), columns=sorted(table.columns))


def cell_table(
    frame: pd.DataFrame, metric: str, pm: str = "±", missing: str = MISSING
) -> pd.DataFrame:
    """Models x (n, levels) of display strings ``value pm half-width`` (one decimal; the value
    alone where there is no interval, as for published rows); n is samples per level."""
    value = _pivot(frame, metric, "value")
    half = (_pivot(frame, metric, "ci_high") - _pivot(frame, metric, "ci_low")) / 2
    cells = value.copy().astype(object)
    for level in value.columns:
        cells[level] = [
            missing if np.isnan(v) else f"{v:.1f}" if np.isnan(h) else f"{v:.1f} {pm} {h:.1f}"
            for v, h in zip(value[level], half[level], strict=True)
        ]
    part = frame[frame["metric"] == metric]
    counts = part.groupby("model", sort=False)["n"].agg(n_text)
    cells.insert(0, "n", counts.reindex(cells.index).replace(MISSING, missing))
    return cells


def markdown_table(
    cells: pd.DataFrame, corner: str = "model", left: tuple[str, ...] = ("n",)
) -> str:
    """A GitHub-flavoured Markdown table of a string DataFrame (index as first column).

    The first column and the ``left`` columns (text) are left-aligned, the others (numbers) right.
    """

    def row(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    header = row([corner, *map(str, cells.columns)])
    rule = "|" + "|".join([":---", *[":---" if c in left else "---:" for c in cells.columns]])
    rule += "|"
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
    wide = pd.concat(parts.values(), axis=1)
    wide.columns = wide.columns.map(str)
    oracle = frame.drop_duplicates("model").set_index("model")["oracle"]
    wide.insert(0, "oracle", oracle.reindex(wide.index))
    counts = _pivot(frame, spec.metric, "n").add_prefix("n_")
    counts.columns = counts.columns.map(str)
    wide = wide.join(counts.astype("Int64"))
    ordered = [
        c for lv in levels for c in (*(f"{lv}{s}" for s in ("", "_ci_low", "_ci_high")), f"n_{lv}")
    ]
    return wide[["oracle", *ordered]].to_csv(index_label="model", float_format="%.4f")


def table_latex(records: list[dict], spec: TableSpec, paper: bool = False) -> str:
    """One table as a LaTeX ``tabular`` (booktabs rules) with the title as a comment."""
    cells = cell_table(scores_frame(records, paper), spec.metric, pm=r"$\pm$", missing="--")
    cells.columns = cells.columns.map(str)
    table = cells.rename_axis(index="Model", columns=None).reset_index()
    styler = table.style.hide(axis="index").format(escape="latex", subset=["Model"])
    body = styler.to_latex(hrules=True, column_format="ll" + "r" * (len(cells.columns) - 1))
    return f"% {spec.title}\n{body}"


def report_figure(records: list[dict], paper: bool = False):
    """The Fig. 4-style plot of Table 1 and Table 2 (see :mod:`oneshotbench.figures`)."""
    panels = [(spec.metric, spec.axis_label) for spec in TABLES[:2]]
    return scores_figure(scores_frame(records, paper), dataset_title(records[0]), panels)


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
    """Write the tables (and ``scores.png``, ``.pdf``, ``.svg``) into ``out_dir``; return the
    paths."""
    texts = report_texts(records, formats, paper)
    files = {name: text.encode("utf-8") for name, text in texts.items()}
    if plots:
        figure = report_figure(records, paper)
        files.update({f"scores.{fmt}": figure_bytes(figure, fmt) for fmt in FIGURE_FORMATS})
    return write_files(files, out_dir)
