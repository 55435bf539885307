"""Command-line interface: a thin typer/rich shell over the Python API."""
