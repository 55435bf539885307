"""``oneshotbench analyze``: a thin shell over :mod:`oneshotbench.analysis` (tables, page, JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from oneshotbench.analysis.page import Report, build_report, default_out_dir, open_registered
from oneshotbench.analysis.summary import load_analysed
from oneshotbench.cli import results_console
from oneshotbench.errors import OneshotbenchError

HELP = (
    "Decompose scores into detection and segmentation, from the glyph analysis that evaluate "
    "stores for every sample.\n\n"
    "A sample is detected when the pasted glyph holding most of its predicted pixels is the "
    "target. Per level: detection rate, IoU given detection and given a miss, the shares of "
    "predicted pixels on target / distractors / background, confusions among misses against "
    "chance, difficulty curves, and (for records evaluated with --save-masks) a gallery of "
    "failures. Writes <first record stem>.analysis/index.html beside the first record unless "
    "--out is given."
    "\n\n\b\nExamples:\n"
    "  oneshotbench analyze out/model-test-one-shot.json\n"
    "  oneshotbench analyze a.json b.json --oracle oracle.json --json analysis.json\n"
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def decomposition_table(report: Report) -> Table:
    """Mean IoU = P(detected)·IoU|detected + P(missed)·IoU|missed, per record and level."""
    table = Table(title="Detection vs segmentation (all figures in %)")
    columns = ["model", "level", "n", "mean IoU = P(det)·IoU|det + P(miss)·IoU|miss"]
    columns += ["pred. on target / distractors / background"]
    if report.oracle:
        columns.append("IoU / oracle")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    for summary in report.summaries:
        for level, entry in summary["levels"].items():
            detected = entry["detection_rate"]
            terms = (
                f"{_pct(report.mean_iou[summary['record']][level])} = "
                f"{_pct(detected)}·{_pct(entry['iou_detected'])} + "
                f"{_pct(1 - detected)}·{_pct(entry['iou_missed'])}"
            )
            shares = " / ".join(
                _pct(entry[f"pred_share_{k}"]) for k in ("target", "distractors", "background")
            )
            row = [Text(summary["name"]), str(level), f"{entry['n']:,}", terms, shares]
            if report.oracle:
                row.append(_pct(report.oracle[summary["record"]].get(level)))
            table.add_row(*row)
    return table


def confusion_table(report: Report) -> Table:
    """Misses by what was chosen; relations of chosen distractors, observed (chance)."""
    table = Table(title="Misses: chosen distractor's relation to the target, % (chance %)")
    relations = ("same_character", "same_alphabet", "same_colour", "near_neighbour")
    for column in ("model", "level", "misses", "chose nothing", "chose distractor", *relations):
        table.add_column(column.replace("_", " "), justify="left" if column == "model" else "right")
    for summary in report.summaries:
        for level, entry in summary["levels"].items():
            c = entry["confusions"]
            table.add_row(
                Text(summary["name"]),
                str(level),
                str(c["misses"]),
                str(c["chose_nothing"]),
                str(c["chose_distractor"]),
                *(f"{_pct(c[k]['observed'])} ({_pct(c[k]['chance'])})" for k in relations),
            )
    return table


def analyze(
    records: Annotated[
        list[Path], typer.Argument(help="Result records (JSON) to analyse.", show_default=False)
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for index.html and figures.", show_default="<stem>.analysis/"),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the per-level figures as JSON.")
    ] = None,
    oracle: Annotated[
        Path | None,
        typer.Option(help="Record of an oracle on the same samples: report IoU as its fraction."),
    ] = None,
    gallery_size: Annotated[int, typer.Option(help="Samples per gallery.")] = 4,
    omniglot: Annotated[
        Path | None,
        typer.Option(help="Omniglot folder or zips, to regenerate gallery scenes."),
    ] = None,
) -> None:
    if gallery_size < 1:
        raise OneshotbenchError(f"--gallery-size must be positive, got {gallery_size}")
    analysed = [load_analysed(path) for path in records]
    reference = load_analysed(oracle) if oracle else None
    folder = out or default_out_dir(records[0])
    try:
        report = build_report(
            analysed,
            folder,
            oracle=reference,
            gallery_size=gallery_size,
            open_split=open_registered(omniglot),
        )
    except OSError as err:
        raise OneshotbenchError(
            f"cannot write the analysis to {folder}: {err.strerror or err}"
        ) from None
    console = results_console()
    console.print(decomposition_table(report))
    console.print(confusion_table(report))
    console.print(
        "chance: a distractor drawn uniformly from each miss's visible distractors", style="dim"
    )
    for note in report.notes:
        console.print(Text(note, style="yellow"))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps({"records": report.summaries}, indent=2) + "\n")
        except OSError as err:
            raise OneshotbenchError(f"cannot write {json_path}: {err.strerror or err}") from None
        console.print(Text(f"JSON: {json_path}"))
    console.print(Text(f"report: {report.index}"))


def register(app: typer.Typer) -> None:
    """Add ``analyze`` to the root app."""
    app.command("analyze", help=HELP)(analyze)
