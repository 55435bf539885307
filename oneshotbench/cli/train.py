"""``oneshotbench train MODEL --level N``: train a reference model on the on-the-fly stream.

A thin shell around :func:`reference_models.training.train`: it builds the training stream and
the val-train batches from the dataset layer, picks the device, joins a ``torchrun`` process
group when there is one, and shows progress (samples/s, loss) with rich.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from oneshotbench.errors import OneshotbenchError

if TYPE_CHECKING:  # torch and the models load only when the command runs (fast --help)
    import torch


def _device(name: str, local_rank: int) -> torch.device:
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise OneshotbenchError("--device cuda was asked for but no CUDA device is available")
        return torch.device("cuda", local_rank)
    return torch.device(name)


def train_command(
    model: Annotated[
        str,
        typer.Argument(
            help=(
                "siamese_unet, masknet, masknet_untargeted, presegmented_discriminator or "
                "cluttered_discriminator."
            )
        ),
    ],
    level: Annotated[int, typer.Option(help="Clutter level: 4, 8, 16, 32, 64, 128 or 256.")],
    size: Annotated[str, typer.Option(help="paper (F=24) or tiny (F=4, CPU-friendly).")] = "paper",
    stage: Annotated[
        str | None, typer.Option(help="MaskNet: proposals | discriminator (default: the first).")
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="Checkpoint to start the stage from (MaskNet stages).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Total steps (default: the paper's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Global batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Initial learning rate.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (checkpoint + metrics).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the checkpoint in --out.")] = False,
    compile_: Annotated[
        bool, typer.Option("--compile", help="torch.compile the training step.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the stream and random choices.")] = 0,
    val_samples: Annotated[int, typer.Option(help="val-train samples to validate on.")] = 1000,
    val_every: Annotated[int, typer.Option(help="Validate every N steps.")] = 1000,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 1000,
    log_every: Annotated[int, typer.Option(help="Log the training loss every N steps.")] = 50,
    omniglot: Annotated[Path | None, typer.Option(help="Omniglot source directory.")] = None,
) -> None:
    """Train MODEL on clutter level N with the paper's optimiser, schedule and losses."""
    import os

    from oneshotbench.datasets import TrainingStream, load_split
    from reference_models.checkpoint import read_info
    from reference_models.training import (
        CHECKPOINT_NAME,
        TrainConfig,
        batch_from_samples,
        distributed_setup,
        distributed_teardown,
        train,
    )

    dist = distributed_setup()
    torch_device = _device(device, int(os.environ.get("LOCAL_RANK", "0")))
    out_dir = out or Path("runs") / f"{model}-{stage or 'main'}-L{level}-{size}"
    config = TrainConfig(
        model=model,
        level=level,
        out_dir=out_dir,
        size=size,
        stage=stage,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        init=init,
        compile=compile_,
        log_every=log_every,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
    )
    if resume:
        config = config.continuing(read_info(out_dir / CHECKPOINT_NAME))
    config = config.resolved()

    def streams(stream_seed: int, per_rank: int) -> TrainingStream:
        return TrainingStream(
            level=level,
            batch_size=per_rank,
            seed=stream_seed,
            device=str(torch_device),
            omniglot=omniglot,
        )

    val_batches = []
    if dist.main and val_samples > 0:
        split = load_split("val-train", level=level, omniglot=omniglot)
        chunk = config.batch_size
        val_batches = [
            batch_from_samples(
                split.get(start, min(start + chunk, val_samples)), level, torch_device
            )
            for start in range(0, min(val_samples, len(split)), chunk)
        ]
    console = Console()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not dist.main,
    ) as progress:
        task = progress.add_task(f"{model}/{config.stage} L={level}", total=config.steps, status="")

        def on_event(event: dict) -> None:
            kind = event["event"] if dist.main else "quiet"  # only rank 0 talks
            if kind == "start":
                progress.update(task, completed=event["step"])
                progress.console.print(
                    f"{event['model']} ({event['parameters']:,} trainable parameters), stage "
                    f"{event['stage']}, steps {event['step']}..{event['total']} on {torch_device}"
                )
            elif kind == "train":
                progress.update(
                    task,
                    completed=event["step"],
                    status=(
                        f"loss {event['loss']:.4f} {event['metric_name']} {event['metric']:.3f} "
                        f"{event['samples_per_s']:.0f} samples/s"
                    ),
                )
            elif kind == "val":
                progress.console.print(
                    f"step {event['step']}: val-train loss {event['loss']:.4f} "
                    f"{event['metric_name']} {event['metric']:.3f}"
                )

        try:
            path = train(
                config,
                streams,
                torch_device,
                val_batches=val_batches,
                resume=resume,
                dist=dist,
                on_event=on_event,
            )
        finally:
            distributed_teardown(dist)
    if dist.main:
        console.print(f"checkpoint: {path}  metrics: {out_dir / 'metrics.csv'}")


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the root app."""
    app.command("train")(train_command)
