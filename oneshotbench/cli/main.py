"""The ``oneshotbench`` command: sub-commands are defined in their own modules and wired here.

Topics are imported only when needed: ``oneshotbench data export`` never pays for torch or
matplotlib. ``app`` (the full application, for tests and documentation) is built on first access.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console
from rich.text import Text

from oneshotbench import __version__
from oneshotbench.errors import OneshotbenchError

# command name -> module under oneshotbench.cli that registers it
COMMANDS = {
    "data": "data",
    "evaluate": "evaluate",
    "report": "reports",
    "leaderboard": "reports",
    "reproduction": "reports",
    "train": "train",
    "models": "models",
    "analyze": "analyze",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oneshotbench {__version__}")
        raise typer.Exit()


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI with every topic, or only the topic that provides ``command``."""
    app = typer.Typer(
        name="oneshotbench",
        help="Benchmark harness for one-shot segmentation in clutter (cluttered Omniglot).",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Exact cluttered-Omniglot data, paper-exact metrics, isolated scoring of submissions."""

    topics = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for topic in topics:
        importlib.import_module(f"oneshotbench.cli.{topic}").register(app)
    return app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: user errors become one red line and exit code 2."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    try:
        build_app(command)()
    except OneshotbenchError as err:
        message = Text.assemble(("error:", "bold red"), " ", str(err))  # literal, never markup
        Console(stderr=True).print(message, highlight=False, soft_wrap=True)
        sys.exit(2)
