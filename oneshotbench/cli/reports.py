"""``oneshotbench report`` and ``oneshotbench leaderboard``: thin shells over their modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from oneshotbench.errors import OneshotbenchError
from oneshotbench.leaderboard import Entry, rank_records, write_leaderboard
from oneshotbench.metrics import PerSampleScores
from oneshotbench.records import check_comparable, load_record
from oneshotbench.reports import FORMATS, TABLES, table_markdown, write_report

Records = Annotated[
    list[Path], typer.Argument(help="Result records (JSON) written by `oneshotbench evaluate`.")
]


def _load(paths: list[Path]) -> list[tuple[str, dict, dict[int, PerSampleScores]]]:
    return [(str(path), *load_record(path)) for path in paths]


def _formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise OneshotbenchError(
            f"unknown report format {', '.join(unknown) or repr(text)}; choose from "
            f"{', '.join(FORMATS)}"
        )
    return formats


def report(
    records: Records,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory for tables and plots (printed only when omitted)."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", help="Table formats to write.")
    ] = "md,csv,tex",
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Write scores.png and scores.svg.")
    ] = True,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper/--no-paper",
            help="Add the paper's published rows (labelled 'paper: ...') beside the records'.",
        ),
    ] = False,
) -> None:
    """Tables 1 and 2 (models x clutter levels) and Fig. 4-style plots from result records.

    Example: oneshotbench report results/*.json --paper --out report/
    """
    chosen = _formats(formats)
    loaded = _load(records)
    check_comparable([(src, rec) for src, rec, _ in loaded], same_levels=False, purpose="report")
    recs = [rec for _, rec, _ in loaded]
    console = Console()
    for spec in TABLES:
        console.print(Markdown(table_markdown(recs, spec, paper)))
    if out is not None:
        written = write_report(recs, out, chosen, plots, paper)
        console.print(f"wrote {len(written)} files to {out}")


def _rich_table(entries: list[Entry]) -> Table:
    levels = sorted({level for e in entries for level in e.level_iou})
    table = Table(title="Leaderboard (mean IoU over clutter levels, %)")
    for name in ["rank", "model", "oracle", "mean IoU", *[f"IoU {lv}" for lv in levels]]:
        table.add_column(name, justify="left" if name in ("model", "oracle") else "right")
    for name in ("Δ vs leader", "p", "significant"):
        table.add_column(name, justify="right")
    for e in entries:
        p = "" if e.p_value is None else ("<0.001" if e.p_value < 1e-3 else f"{e.p_value:.3f}")
        table.add_row(
            str(e.rank),
            e.model,
            "yes" if e.oracle else "",
            f"{e.mean_iou:.1f}",
            *[f"{e.level_iou[lv]:.1f}" if lv in e.level_iou else "–" for lv in levels],
            "" if e.delta is None else f"{e.delta:+.1f}",
            p,
            {None: "", True: "[bold]yes[/]", False: "no"}[e.significant],
        )
    return table


def leaderboard(
    records: Records,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for leaderboard.md and leaderboard.csv.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the paired bootstrap.")] = 0,
    resamples: Annotated[
        int, typer.Option("--resamples", min=100, help="Bootstrap resamples.")
    ] = 10_000,
) -> None:
    """Rank records of the same data by mean IoU; mark significant gaps to the leader (p < 0.05)."""
    entries = rank_records(_load(records), seed=seed, n_resamples=resamples)
    Console().print(_rich_table(entries))
    if out is not None:
        written = write_leaderboard(entries, out)
        Console().print(f"wrote {', '.join(p.name for p in written)} to {out}")


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``leaderboard`` to the root app."""
    app.command("report")(report)
    app.command("leaderboard")(leaderboard)
