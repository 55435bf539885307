"""Command-line interface: a thin typer/rich shell over the Python API."""

from __future__ import annotations

import os

from rich.console import Console

UNWRAPPED_WIDTH = 240
"""Columns for results written to a file or pipe: rich would wrap them at 80."""


def results_console() -> Console:
    """stdout for tables of results: the terminal's width, or, when the output goes to a file,
    a pipe or a CI log (and COLUMNS does not say otherwise), lines as long as the tables need."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=UNWRAPPED_WIDTH)
    return console
