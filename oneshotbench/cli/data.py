"""``oneshotbench data``: list, show, export and verify cluttered-Omniglot splits."""

from __future__ import annotations

from pathlib import Path

import typer

from oneshotbench.cli import results_console
from oneshotbench.progress import progress_bar

console = results_console()
app = typer.Typer(
    help="Cluttered-Omniglot data: generated on demand, bit-exact with the authors' release.",
    no_args_is_help=True,
)

OMNIGLOT_HELP = (
    "Folder with images_background.zip and images_evaluation.zip (or the extracted folders). "
    "Default: $ONESHOTBENCH_OMNIGLOT, else the cache (downloaded on first use)."
)
OmniglotOption = typer.Option(None, "--omniglot", help=OMNIGLOT_HELP, show_default=False)
DatasetOption = typer.Option("cluttered-omniglot", "--dataset", help="Registered dataset name.")
VersionOption = typer.Option(
    1, "--version", help="Dataset version (1 = the official release, 0 = the pre-fix data)."
)


def register(root: typer.Typer) -> None:
    """Add the ``data`` command group to the root app."""
    root.add_typer(app, name="data")


@app.command("list")
def list_command() -> None:
    """List datasets, splits, levels, sizes, seeds and fingerprints."""
    from rich.table import Table  # imported where used: `data export` starts without it

    from oneshotbench.datasets import list_datasets

    for dataset in list_datasets():
        table = Table(title=f"{dataset.label}: {dataset.description}", title_justify="left")
        for column in ("split", "size", "master seed", "pool", "drawers", "description"):
            table.add_column(column)
        for split in dataset.splits.values():
            low, high = split.drawers
            table.add_row(
                split.name,
                f"{split.size:,}",
                str(split.master_seed),
                split.pool,
                f"{low + 1}-{high}",
                split.description,
            )
        console.print(table)
        levels = Table(
            title="fingerprints (SHA-256 over every covered sample)", title_justify="left"
        )
        levels.add_column("split")
        for level in dataset.levels:
            levels.add_column(f"L={level}")
        for split in dataset.splits.values():
            cells = []
            for level in dataset.levels:
                entry = dataset.registry.entry(split.name, level)
                cells.append(entry["fingerprint"][:12] if entry else "—")
            levels.add_row(split.name, *cells)
        console.print(levels)
        console.print(
            "Clutter levels (characters per scene): "
            + ", ".join(map(str, dataset.levels))
            + ". The training split's fingerprint covers its first 2,000 samples."
        )


@app.command("show")
def show_command(
    out: Path = typer.Option(Path("cluttered-omniglot.png"), "--out", help="PNG to write."),
    split: str = typer.Option("test-one-shot", "--split", help="Split to draw from."),
    index: int = typer.Option(
        0,
        "--index",
        help="Sample index. Each level has its own target for it (the same character only at "
        "the start of a job, e.g. index 0).",
    ),
    omniglot: Path | None = OmniglotOption,
    version: int = VersionOption,
) -> None:
    """Draw sample INDEX at every clutter level: its target, scene and mask (like the paper's
    Fig. 2)."""
    from oneshotbench.datasets.figure import write_levels_figure

    path = write_levels_figure(out, split=split, index=index, omniglot=omniglot, version=version)
    console.print(f"wrote {path}")


@app.command("export")
def export_command(
    level: int = typer.Option(..., "--level", help="Clutter level (characters per scene)."),
    split: str = typer.Option(
        ..., "--split", help="train, val-train, test-train, val-one-shot or test-one-shot."
    ),
    out: Path = typer.Option(..., "--out", help="Directory to write (created if missing)."),
    start: int = typer.Option(0, "--start", help="First sample index (inclusive)."),
    stop: int | None = typer.Option(
        None, "--stop", help="Last sample index (exclusive). Default: the split's size."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Generator threads (default: all usable cores)."
    ),
    instances: bool = typer.Option(
        False,
        "--instances",
        help="Also write instance_map.npy (N×96×96 int16: which glyph owns each pixel) and "
        "instances.csv (one row per pasted glyph).",
    ),
    omniglot: Path | None = OmniglotOption,
    dataset: str = DatasetOption,
    version: int = VersionOption,
) -> None:
    """Write samples START..STOP-1 in the authors' .npy layout (instance data on request).

    images.npy N×96×96×3, segmentation.npy N×96×96×1 (0/1), targets.npy N×32×32×3 (uint8, loadable
    with mmap_mode="r"); with --instances also instance_map.npy and instances.csv (without it,
    those of an earlier export in OUT are removed). Existing files are replaced atomically.
    """
    from oneshotbench.datasets import load_split
    from oneshotbench.datasets.export import export_split

    data = load_split(split, level, dataset=dataset, version=version, omniglot=omniglot)
    last = len(data) if stop is None else stop
    with progress_bar(console) as progress:
        task = progress.add_task(f"{split} L={level}", total=max(0, last - start))
        written = export_split(
            data,
            out,
            start,
            last,
            instances=instances,
            workers=workers,
            on_done=lambda n: progress.advance(task, n),
        )
    console.print(f"wrote {last - start:,} samples to {out}: " + ", ".join(p.name for p in written))


@app.command("warm")
def warm_command(
    omniglot: Path | None = OmniglotOption,
    aot: bool = typer.Option(
        True, "--aot/--no-aot", help="Also compile the kernel ahead of time (needs a C compiler)."
    ),
) -> None:
    """Prepare the caches so that later starts are fast (run once after installing or upgrading).

    Decodes Omniglot into the glyph cache, compiles the numba kernel into numba's cache, and
    (unless --no-aot) builds the ahead-of-time compiled kernel: small requests, such as a
    one-sample `data export`, then start without loading numba at all. Safe to repeat: what is
    current is kept.
    """
    from oneshotbench.datasets.warm import warm

    for step in warm(omniglot=omniglot, aot_module=aot):
        console.print(step)


@app.command("verify")
def verify_command(
    official: bool = typer.Option(
        False, "--official", help="Check the authors' 28 MD5 digests (last scene of each split)."
    ),
    all_: bool = typer.Option(
        False, "--all", help="Everything: fingerprints, official digests, training prefixes."
    ),
    levels: str | None = typer.Option(
        None, "--levels", help="Comma-separated levels, e.g. 4,8,32."
    ),
    splits: str | None = typer.Option(None, "--splits", help="Comma-separated splits."),
    workers: int | None = typer.Option(None, "--workers", help="Generator threads."),
    omniglot: Path | None = OmniglotOption,
    version: int = VersionOption,
) -> None:
    """Regenerate splits and check them against committed fingerprints and the authors' digests.

    Default: SHA-256 fingerprints of every sample of the evaluation splits. --official: the
    authors' MD5 digests only. --all: both, plus the training split's fingerprinted prefix.
    """
    from rich.table import Table

    from oneshotbench.datasets.checks import plan_checks, run_checks

    checks = plan_checks(
        version=version, official=official, everything=all_, levels=levels, splits=splits
    )
    with progress_bar(console) as progress:
        results = run_checks(checks, omniglot=omniglot, workers=workers, progress=progress)
    table = Table(title="verification", title_justify="left")
    for column in ("split", "level", "check", "result", "detail"):
        table.add_column(column)
    failed = 0
    for r in results:
        detail = r.actual[:16] if r.ok else f"expected {r.expected[:16]}, got {r.actual[:16]}"
        if r.bad_samples:
            shown = ", ".join(map(str, r.bad_samples[:8]))
            detail += f"; wrong samples: {shown}" + (" …" if len(r.bad_samples) > 8 else "")
        failed += not r.ok
        mark = "[green]ok[/]" if r.ok else "[bold red]FAILED[/]"
        table.add_row(r.split, str(r.level), r.kind, mark, detail)
    console.print(table)
    if failed:
        console.print(f"[bold red]{failed} of {len(results)} checks failed[/]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(results)} checks passed[/]")
