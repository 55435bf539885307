"""The ``oneshotbench`` command: sub-commands are defined in their own modules and wired here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from oneshotbench import __version__
from oneshotbench.cli import data, evaluate, reports, train
from oneshotbench.errors import OneshotbenchError

app = typer.Typer(
    name="oneshotbench",
    help="Benchmark harness for one-shot segmentation in clutter (cluttered Omniglot).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oneshotbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Exact cluttered-Omniglot data, paper-exact metrics, isolated evaluation of submissions."""


for _topic in (data, evaluate, reports, train):
    _topic.register(app)


def main() -> None:
    """Console-script entry point: user errors become one red line and exit code 2."""
    try:
        app()
    except OneshotbenchError as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
