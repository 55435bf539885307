"""``oneshotbench train MODEL --level N``: train a reference model on the on-the-fly stream.

A thin shell around :func:`reference_models.training.train`: it builds the training stream and
the val-train batches from the dataset layer, picks the device, joins a ``torchrun`` process
group when there is one, and shows progress (samples/s, loss) with rich — or, when the output is
not a terminal, one plain line per logged step. Ctrl-C and SIGTERM finish the step in flight,
write a checkpoint and print the command that resumes it.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

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
        str | None,
        typer.Option(
            help="MaskNet: proposals | discriminator.", show_default="the model's first stage"
        ),
    ] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            help="Checkpoint to start from: MaskNet's stages, another level's model, or an "
            "earlier run of this stage (with --start-step and --warmup-steps).",
            show_default="none",
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Total steps of the schedule.",
            show_default="the paper's: 160,000; MaskNet proposals 200,000, discriminator 40,000",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Global batch size.", show_default="the paper's: 250; proposals 50"),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Initial learning rate.",
            show_default="the paper's: 5e-4; proposals 5e-5, discriminator 2.5e-4",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run directory (checkpoint + metrics).", show_default="runs/MODEL-STAGE-LN-SIZE"
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the checkpoint in --out.")
    ] = False,
    compile_: Annotated[
        bool, typer.Option("--compile", help="torch.compile the training step.")
    ] = False,
    channels_last: Annotated[
        bool,
        typer.Option("--channels-last", help="channels_last memory format (GPU)."),
    ] = False,
    precision: Annotated[
        str,
        typer.Option(
            help="auto: bf16 autocast on CUDA, float32 on CPU; bf16 also speeds up CPUs with AMX "
            "units (about 2x at paper size) but is emulated, about 10x slower, on CPUs without "
            "AMX or AVX-512 BF16; fp32 everywhere else."
        ),
    ] = "auto",
    feed: Annotated[
        str,
        typer.Option(
            help="stream: fresh samples per step (torch generator on CUDA); split: the authors' "
            "exact training split, generated in --workers processes."
        ),
    ] = "stream",
    workers: Annotated[int, typer.Option(help="Data workers of --feed split.")] = 4,
    start_step: Annotated[
        int, typer.Option(help="With --init of the same stage: continue the schedule here.")
    ] = 0,
    warmup_steps: Annotated[
        int, typer.Option(help="Linear learning-rate warm-up (a warm start without Adam state).")
    ] = 0,
    checkpoint_seconds: Annotated[
        float | None,
        typer.Option(help="Also checkpoint every N seconds.", show_default="off"),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the stream and random choices.")] = 0,
    val_samples: Annotated[int, typer.Option(help="val-train samples to validate on.")] = 1000,
    val_every: Annotated[int, typer.Option(help="Validate every N steps.")] = 1000,
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 1000,
    log_every: Annotated[int, typer.Option(help="Log the training loss every N steps.")] = 50,
    omniglot: Annotated[
        Path | None,
        typer.Option(help="Omniglot source directory.", show_default="$ONESHOTBENCH_OMNIGLOT"),
    ] = None,
) -> None:
    """Train MODEL on clutter level N with the paper's optimiser, schedule and losses."""
    import os

    from oneshotbench.datasets import TrainingStream, load_split
    from reference_models.checkpoint import read_info, sidecar_path
    from reference_models.feed import SplitFeed
    from reference_models.objectives import batch_from_samples
    from reference_models.training import (
        CHECKPOINT_NAME,
        TrainConfig,
        cpu_has_native_bf16,
        distributed_setup,
        distributed_teardown,
        train,
    )

    if feed not in ("stream", "split"):
        raise OneshotbenchError(f"--feed must be stream or split, not {feed!r}")

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
        channels_last=channels_last,
        precision=precision,
        log_every=log_every,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        start_step=start_step,
        warmup_steps=warmup_steps,
    )
    if resume:
        if not sidecar_path(out_dir / CHECKPOINT_NAME).exists():
            raise OneshotbenchError(
                f"nothing to resume in {out_dir}: no checkpoint was written there yet "
                "(start again without --resume)"
            )
        config = config.continuing(read_info(out_dir / CHECKPOINT_NAME))
    config = config.resolved()
    if (
        precision == "bf16"
        and torch_device.type == "cpu"
        and dist.main
        and not cpu_has_native_bf16()
    ):
        Console(stderr=True).print(
            Text.assemble(
                ("warning: ", "bold yellow"),
                "--precision bf16 on a CPU without AMX or AVX-512 BF16 units runs emulated, about "
                "10x slower than float32; --precision fp32 (the default on CPU) trains faster here",
            ),
            soft_wrap=True,
        )

    def streams(stream_seed: int, per_rank: int) -> TrainingStream | SplitFeed:
        if feed == "split":
            return SplitFeed(
                level, per_rank, stream_seed, torch_device, workers=workers, omniglot=omniglot
            )
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
    plain = not console.is_terminal  # redirected output: one line per log step, no live bar
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not dist.main or plain,
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
                status = (
                    f"loss {event['loss']:.4f} {event['metric_name']} {event['metric']:.3f} "
                    f"{event['samples_per_s']:.0f} samples/s"
                )
                progress.update(task, completed=event["step"], status=status)
                if plain:
                    console.print(
                        f"step {event['step']}/{config.steps}: {status}",
                        markup=False,
                        soft_wrap=True,
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
                stop=stop.is_set,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            distributed_teardown(dist)
    if dist.main:
        console.print(
            f"checkpoint: {path}  metrics: {out_dir / 'metrics.csv'}", markup=False, soft_wrap=True
        )
        step = read_info(path).step
        if step < config.steps:
            again = _resume_command(out_dir)
            console.print(
                f"stopped at step {step} of {config.steps}; resume with:\n  {again}",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(130)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _resume_command(out_dir: Path) -> str:
    """The command line of this run with ``--resume --out DIR`` (other options from the sidecar)."""
    words = [w for w in sys.argv[1:] if w != "--resume"]
    if "--out" not in words and not any(w.startswith("--out=") for w in words):
        words += ["--out", str(out_dir)]
    return shlex.join(["oneshotbench", *words, "--resume"])


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the root app."""
    app.command("train")(train_command)
