"""``oneshotbench models``: the reference networks, committed checkpoints and their scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from oneshotbench.catalog import checkpoints, reference_models


def _models_table() -> Table:
    models = reference_models()
    sizes = list(models[0].parameters) if models else []
    table = Table(title="Reference models (reference_models/; train with `oneshotbench train`)")
    table.add_column("model", overflow="fold")
    table.add_column("description", overflow="fold")
    table.add_column("oracle")
    table.add_column("stages", overflow="fold")
    for size in sizes:
        table.add_column(f"parameters ({size})", justify="right")
    for m in models:
        counts = [f"{m.parameters[size]:,}" for size in sizes]
        row = [m.name, m.description, "yes" if m.oracle else "", ", ".join(m.stages), *counts]
        table.add_row(*map(Text, row))
    return table


def _checkpoints_table(results: Path) -> Table:
    table = Table(title=f"Checkpoints in {results}")
    for name in ("checkpoint", "model", "size", "level", "step", "parameters", "bytes"):
        right = name in ("level", "step", "parameters", "bytes")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    table.add_column("sha256", overflow="fold", min_width=64)  # never cut: it is the identity
    table.add_column("scores (IoU %, 95% CI)", overflow="fold")
    for c in checkpoints(results):
        scores = "\n".join(
            f"L{s.level}: {s.iou:.1f} [{s.iou_ci[0]:.1f}, {s.iou_ci[1]:.1f}], n={s.n:,} — "
            f"{s.record} (link: {s.link})"
            for s in c.scores
        )
        row = [str(c.path), c.model, c.size, str(c.level), str(c.step), f"{c.parameters:,}"]
        row += [f"{c.bytes:,}", c.sha256, scores or "no record in this folder used it"]
        table.add_row(*map(Text, row))
    return table


def models(
    results: Annotated[
        Path, typer.Option("--results", help="Folder of committed records and checkpoints.")
    ] = Path("results"),
) -> None:
    """List the reference models (parameters per size), the checkpoints under --results with
    their SHA-256, and the scores of the records there that used them."""
    console = Console()
    console.print(_models_table())
    console.print(_checkpoints_table(results))


def register(app: typer.Typer) -> None:
    """Add ``models`` to the root app."""
    app.command("models")(models)
