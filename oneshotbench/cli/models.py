"""``oneshotbench models``: the reference networks, committed checkpoints and their scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from oneshotbench.catalog import Checkpoint, checkpoints, reference_models
from oneshotbench.cli import results_console


def _models_table() -> Table:
    """One row per network; the description sits under its name so the table fits 80 columns."""
    models = reference_models()
    sizes = list(models[0].parameters) if models else []
    table = Table(title="Reference models (reference_models/; train with `oneshotbench train`)")
    table.add_column("model")
    table.add_column("stages", no_wrap=True)
    for size in sizes:
        table.add_column(f"parameters\n({size})", justify="right", no_wrap=True, min_width=10)
    for m in models:
        name = Text(m.name, style="bold")
        name.append(f"\n{m.description}", style="dim")
        counts = [Text(f"{m.parameters[size]:,}") for size in sizes]
        table.add_row(name, Text(",\n".join(m.stages)), *counts)
    return table


def _checkpoint_card(c: Checkpoint) -> Table:
    """One checkpoint as label/value lines: the SHA-256 is never cut, at any width."""
    title = Text(str(c.path), style="bold")
    if not c.committed:
        title.append(" (not committed)", style="bold yellow")
    card = Table(title=title, show_header=False, title_justify="left")
    card.add_column("what", no_wrap=True, style="dim")
    card.add_column("value", overflow="fold")
    step = "?" if c.step is None else f"{c.step:,}"
    if c.samples_trained is not None:
        step += f" of batch {c.batch_size:,} ({c.samples_trained:,} samples trained)"
    if (origin := c.origin()) is not None:
        step += f", {origin}"
    rows = {
        "model": f"{c.model} ({c.size}), level {c.level}, step {step}",
        "size": f"{c.parameters:,} parameters, {c.bytes:,} bytes"
        if c.committed
        else "weights not in this folder (left out of the repository); the SHA-256 below "
        "identifies the ones scored",
        "sha256": c.sha256,
        "scores": "\n".join(
            f"L{s.level}: {s.iou:.1f} % IoU [{s.iou_ci[0]:.1f}, {s.iou_ci[1]:.1f}], n={s.n:,}, "
            f"{s.record} (link: {s.link})"
            for s in c.scores
        )
        or "no record in this folder used it",
    }
    for label, value in rows.items():
        card.add_row(label, Text(value))
    return card


def models(
    results: Annotated[
        Path, typer.Option("--results", help="Folder of committed records and checkpoints.")
    ] = Path("results"),
) -> None:
    """List the reference models (parameters per size), the checkpoints under --results with
    their SHA-256, and the scores of the records there that used them."""
    console = results_console()
    console.print(_models_table())
    found = checkpoints(results)
    console.print(Text(f"\nCheckpoints in {results}: {len(found)}", style="bold"))
    for checkpoint in found:
        console.print(_checkpoint_card(checkpoint))


def register(app: typer.Typer) -> None:
    """Add ``models`` to the root app."""
    app.command("models")(models)
