"""``oneshotbench evaluate``: a thin shell over :func:`oneshotbench.runner.evaluate`."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from oneshotbench import runner
from oneshotbench import sandbox as sandboxing
from oneshotbench.cli import results_console
from oneshotbench.errors import OneshotbenchError
from oneshotbench.protocol import SubmissionWarning

T = TypeVar("T")

_UNITS = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}

HELP = (
    "Score a submission file on cluttered Omniglot, exactly as the paper does.\n\n"
    "SUBMISSION is one Python file defining make_predictor(device), which returns "
    "predict(targets, scenes) -> foreground probabilities [B,96,96] (predict protocol v1, see "
    "the README). It runs in a sandbox (its own namespaces under bubblewrap) that receives only "
    "target and scene pixels and a scrubbed environment, under time and memory limits.\n\n"
    "By default all 10,000 samples of each of the seven clutter levels of the one-shot test split "
    "are scored on the CPU. The record (JSON) and its per-sample scores (.npz) go to --out. "
    "Finished batches are kept while the run lasts: continue an interrupted run with --resume. "
    "Exit code 2: an error (message on stderr); 3: the record was written but --check-invariance "
    "flagged it."
    "\n\n\b\nExamples:\n"
    "  oneshotbench evaluate submission.py\n"
    "  oneshotbench evaluate submission.py --levels 4,32 --samples 500\n"
    "  oneshotbench evaluate submission.py --device cuda --check-invariance\n"
    "  oneshotbench evaluate submission.py --private-seed-file secret.bin\n"
    "  torchrun --nproc-per-node 4 -m oneshotbench evaluate sub.py --device cuda\n"
)


def parse_size(text: str) -> int | None:
    """'8GiB', '500M', '2g' -> bytes; 'none' or '0' -> None (no limit); 'auto' -> 75% of RAM."""
    value = text.strip().lower()
    if value == "auto":
        return runner.default_memory_limit()
    if value in ("none", "0"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?i?)b?", value)
    if match is None or match.group(2) == "i":
        raise OneshotbenchError(
            f"cannot read memory limit {text!r}; write e.g. 8GiB, 500MB, auto or none"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_levels(text: str) -> tuple[int, ...]:
    """'4,8,32' -> (4, 8, 32)."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise OneshotbenchError(
            f"cannot read levels {text!r}; write a comma-separated list such as 4,8,32"
        ) from None


_SHOW_WARNING = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Submission warnings as one plain line on stderr (file names printed literally)."""
    if issubclass(category, SubmissionWarning):
        Console(stderr=True).print(
            Text.assemble(("warning: ", "bold yellow"), str(message)), soft_wrap=True
        )
    else:
        _SHOW_WARNING(message, category, filename, lineno, file, line)


def _showing_warnings(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` with submission warnings shown as they happen, once each call."""

    def call(*args: object, **kwargs: object) -> T:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SubmissionWarning)
            warnings.showwarning = _show_warning
            return function(*args, **kwargs)

    return call


def _limit(seconds: float) -> float | None:
    return None if seconds == 0 else seconds


def _ci(value: float, interval: list[float]) -> str:
    half = (interval[1] - interval[0]) / 2
    return f"{value:.1f} ± {half:.1f}"


def results_table(record: dict) -> Table:
    """Per-level IoU and localization (95% bootstrap CI half-widths), as the paper reports them."""
    name = record["submission"]["name"] + (" (oracle)" if record["oracle"] else "")
    dataset = record["dataset"]
    private = ", private" if dataset["private"] else ""
    table = Table(  # Text: a name never goes through the markup parser
        title=Text(f"{name} on {dataset['name']} v{dataset['version']} {dataset['split']}{private}")
    )
    for column in ("level", "n", "IoU %", "localization %", "strict loc. %", "samples/s"):
        table.add_column(column, justify="right")
    for level in record["levels"]:
        table.add_row(
            str(level["level"]),
            f"{level['n']:,}",
            _ci(level["iou"], level["iou_ci"]),
            _ci(level["loc"], level["loc_ci"]),
            _ci(level["loc_strict"], level["loc_strict_ci"]),
            f"{level['samples_per_s']:,.0f}",
        )
    table.caption = f"mean IoU over levels: {record['mean_iou']:.1f} %; ± = half the 95% CI"
    return table


def evaluate(
    submission: Annotated[
        Path, typer.Argument(help="The submission file (predict protocol v1).", show_default=False)
    ],
    split: Annotated[
        str, typer.Option(help="Split to score: test-one-shot, val-one-shot, test-train, ...")
    ] = runner.DEFAULT_SPLIT,
    levels: Annotated[
        str, typer.Option(help="Comma-separated clutter levels (characters per scene).")
    ] = ",".join(map(str, runner.PAPER_LEVELS)),
    samples: Annotated[
        int | None,
        typer.Option(help="Score only the first N samples of each level.", show_default="all"),
    ] = None,
    device: Annotated[str, typer.Option(help="Device for the submission: cpu, cuda, cuda:1.")] = (
        "cpu"
    ),
    batch_size: Annotated[int, typer.Option(help="Samples per predict call.")] = (
        runner.DEFAULT_BATCH_SIZE
    ),
    out: Annotated[
        Path | None,
        typer.Option(
            help="Record path; per-sample scores go beside it as <stem>.samples.npz.",
            show_default="out/<submission>-<split>.json",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted run from its finished batches."),
    ] = False,
    batch_timeout: Annotated[
        float,
        typer.Option(help="Seconds allowed per batch (and for make_predictor); 0 = no limit."),
    ] = runner.DEFAULT_BATCH_TIMEOUT,
    timeout: Annotated[
        float, typer.Option(help="Seconds allowed for the whole run; 0 = no limit.")
    ] = runner.DEFAULT_TIMEOUT,
    memory_limit: Annotated[
        str,
        typer.Option(
            help="Resident memory the submission may use: e.g. 8GiB, 500MB; auto = 75% of RAM; "
            "none."
        ),
    ] = "auto",
    bootstrap_seed: Annotated[
        int, typer.Option(help="Seed of the bootstrap CIs (and of the invariance subset).")
    ] = 0,
    private_seed_file: Annotated[
        Path | None,
        typer.Option(
            help="Secret file (>= 16 random bytes) from which hidden splits are generated; the "
            "record keeps only its SHA-256."
        ),
    ] = None,
    check_invariance: Annotated[
        bool,
        typer.Option(
            help="Re-run a random subset in shuffled order with another batch size and flag "
            "outputs that depend on batching.",
        ),
    ] = False,
    oracle: Annotated[
        bool,
        typer.Option(help="Allow a submission that declares ORACLE_FIELDS to read ground truth."),
    ] = False,
    omniglot: Annotated[
        Path | None,
        typer.Option(help="Omniglot folder or zips (default: the cache, else download)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars on stderr.")] = True,
    name: Annotated[
        str | None,
        typer.Option(
            help="Name of the model in the record and the default output path.",
            show_default="the file's stem",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(help="A label stored in the record (repeatable), e.g. --tag 60-steps."),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            help="Pass the variable NAME to the submission (repeatable); others are never "
            "passed but PATH, locale, thread counts, CUDA's and ONESHOTBENCH_CHECKPOINT.",
            metavar="NAME",
        ),
    ] = None,
    sandbox: Annotated[
        str,
        typer.Option(
            help="Isolation: auto (bubblewrap where it works, else none with a warning), "
            "bubblewrap, or none."
        ),
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing record at the default output path.")
    ] = False,
    analysis: Annotated[
        bool, typer.Option(help="Store each sample's glyph analysis (see oneshotbench analyze).")
    ] = True,
    save_masks: Annotated[
        bool, typer.Option(help="Also store the binarised predictions, bit-packed (galleries).")
    ] = False,
    version: Annotated[
        int, typer.Option(help="Dataset version (1 = the official release, 0 = pre-fix data).")
    ] = 1,
) -> None:
    mode, warning = sandboxing.resolve_mode(sandbox)
    if warning:
        Console(stderr=True).print(Text(f"warning: {warning}", style="bold yellow"))
    record_path = out or runner.default_out_path(
        submission, split, private=private_seed_file is not None, name=name
    )
    try:
        record = _showing_warnings(runner.evaluate)(
            submission,
            split=split,
            levels=parse_levels(levels),
            samples=samples,
            device=device,
            batch_size=batch_size,
            out=out,
            resume=resume,
            batch_timeout=_limit(batch_timeout),
            timeout=_limit(timeout),
            memory_limit=parse_size(memory_limit),
            bootstrap_seed=bootstrap_seed,
            private_seed_file=private_seed_file,
            check_invariance=check_invariance,
            oracle=oracle,
            omniglot=omniglot,
            progress=progress,
            sandbox=mode,
            env=env or (),
            name=name,
            tags=tag or (),
            overwrite=overwrite,
            analysis=analysis,
            save_masks=save_masks,
            version=version,
        )
    except KeyboardInterrupt:
        journal = runner.journal_path(record_path)
        kept = f"; finished batches are kept in {journal}" if journal.is_dir() else ""
        raise OneshotbenchError(
            f"interrupted{kept}: rerun the same command with --resume to continue"
        ) from None
    if os.environ.get("RANK", "0") != "0":  # under torchrun, process 0 reports
        return
    console = results_console()
    console.print(results_table(record))
    invariance = record.get("invariance")
    if invariance is not None:
        verdict = "[bold yellow]FLAGGED[/]" if invariance["flagged"] else "[green]ok[/]"
        console.print(
            f"batch/order invariance: {verdict} (largest probability change "
            f"{invariance['max_prob_deviation']:.2g} over {invariance['samples']} re-run samples, "
            f"tolerance {invariance['tolerance']:g})"
        )
    console.print(Text(time_line(record["timing"])))
    console.print(Text(f"record: {record_path} (sandbox: {record['sandbox']})"))
    if invariance is not None and invariance["flagged"]:
        raise typer.Exit(3)


def time_line(timing: dict) -> str:
    """Wall time and where it went: the busy seconds of each stage (they overlap)."""
    stages = timing.get("stages") or {}
    busy = [f"{name.removesuffix('_s')} {sec:.1f}" for name, sec in stages.items() if sec >= 0.05]
    where = f" (busy seconds, overlapping: {', '.join(busy)})" if busy else ""
    return f"time: {timing['wall_s']:.1f} s{where}"


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` to the root app."""
    app.command("evaluate", help=HELP)(evaluate)
