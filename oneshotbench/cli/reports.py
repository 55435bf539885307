"""``oneshotbench report`` and ``oneshotbench leaderboard``: thin shells over their modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from oneshotbench import catalog
from oneshotbench.cache import atomic_write_bytes
from oneshotbench.cli import results_console
from oneshotbench.errors import OneshotbenchError
from oneshotbench.leaderboard import (
    Leaderboard,
    board_header,
    leaderboard_cells,
    rank_records,
    write_leaderboard,
)
from oneshotbench.metrics import PerSampleScores
from oneshotbench.records import check_comparable, load_record
from oneshotbench.reports import (
    FORMATS,
    TABLES,
    TableSpec,
    cell_table,
    dataset_title,
    scores_frame,
    write_report,
)
from oneshotbench.reproduction import (
    reproduction_cells,
    reproduction_markdown,
    tally,
    training_runs,
)

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


def _report_table(records: list[dict], spec: TableSpec, paper: bool) -> Table:
    """One report table for the terminal; names are printed literally, never as markup."""
    cells = cell_table(scores_frame(records, paper), spec.metric)
    table = Table(title=Text(f"{spec.title} — {dataset_title(records[0])}"))
    table.add_column("model", overflow="fold")
    for column in cells.columns:
        table.add_column(str(column), justify="left" if column == "n" else "right")
    for model, row in zip(cells.index, cells.values, strict=True):
        table.add_row(*(Text(str(v)) for v in (model, *row)))
    return table


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
        bool, typer.Option("--plots/--no-plots", help="Write scores.png, .pdf and .svg.")
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
    console = results_console()
    for spec in TABLES:
        console.print(_report_table(recs, spec, paper))
    if out is not None:
        written = write_report(recs, out, chosen, plots, paper)
        console.print(Text(f"wrote {len(written)} files to {out}"))


def _rich_table(board: Leaderboard) -> Table:
    """The leaderboard for the terminal: names never truncated (they wrap), text literal."""
    cells = leaderboard_cells(board)
    table = Table(title="Leaderboard", caption=board_header(board), caption_justify="left")
    width = max((len(name) for name in cells["model"]), default=5)
    for name in ["rank", *cells.columns]:
        text = name in ("model", "flags", "n")
        table.add_column(
            name,
            justify="left" if text else "right",
            min_width=width if name == "model" else None,
            overflow="fold",
        )
    for rank, row in zip(cells.index, cells.values, strict=True):
        table.add_row(*(Text(str(v)) for v in (rank, *row)))
    return table


def leaderboard(
    records: Records,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for leaderboard.md and leaderboard.csv.")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Directory for index.html, a self-contained web page."),
    ] = None,
    common: Annotated[
        bool,
        typer.Option(
            "--common",
            help="Rank on the levels and samples all records share (recomputing scores and CIs).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Leave out oracle, unsandboxed and invariance-flagged rows."),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the paired bootstrap.")] = 0,
    resamples: Annotated[
        int, typer.Option("--resamples", min=100, help="Bootstrap resamples.")
    ] = 10_000,
) -> None:
    """Rank records of the same data by mean IoU; mark significant gaps to the leader (p < 0.05).

    Records with the same submission name that cover different levels form one row. Flags:
    oracle (reads ground truth), unsandboxed, invariance (answers change with batching).

    Example: oneshotbench leaderboard results/*.json --common --html site/
    """
    board = rank_records(
        _load(records), common=common, strict=strict, seed=seed, n_resamples=resamples
    )
    console = results_console()
    console.print(_rich_table(board))
    if board.left_out:
        console.print(Text(f"left out by --strict: {'; '.join(board.left_out)}"))
    if out is not None:
        written = write_leaderboard(board, out)
        console.print(Text(f"wrote {', '.join(p.name for p in written)} to {out}"))
    if html is not None:
        from oneshotbench.leaderboard_page import write_page

        page = write_page(board, html)
        console.print(Text(f"wrote {page}"))


def reproduction(
    results: Annotated[
        Path, typer.Argument(help="Folder of result records and their checkpoints.")
    ] = Path("results"),
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Markdown file to write (default: RESULTS/REPRODUCTION.md)."),
    ] = None,
) -> None:
    """The paper's 60 cells of Tables 1 and 2 beside ours, with where each came from.

    Reads every record in RESULTS and RESULTS/v0 (scores on the pre-fix data, dataset version 0,
    are shown beside the fixed release's) and the checkpoints committed there; records in
    RESULTS/superseded (of checkpoints a longer-trained one replaced) never stand for a cell.

    Example: oneshotbench reproduction results
    """
    paths = catalog.record_paths(results, superseded=False)
    if not paths:
        raise OneshotbenchError(f"no result records (*.json) in {results}")
    records = [(str(path), load_record(path)[0]) for path in paths]
    checkpoints = catalog.checkpoints(results)
    cells = reproduction_cells(records, checkpoints)
    runs = training_runs(cells, checkpoints)
    target = out or results / "REPRODUCTION.md"
    atomic_write_bytes(target, reproduction_markdown(cells, runs).encode())
    results_console().print(Text(f"wrote {target}: {tally(cells)}"))


def register(app: typer.Typer) -> None:
    """Add ``report``, ``leaderboard`` and ``reproduction`` to the root app."""
    app.command("report")(report)
    app.command("leaderboard")(leaderboard)
    app.command("reproduction")(reproduction)
