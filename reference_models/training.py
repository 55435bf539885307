"""Training loop for the reference models, with the paper's losses, optimiser and schedules.

Defaults (spec §3.5, §3.6, §5.16, §5.17, §5.25), per stage:

* ``segmentation`` (Siamese U-Net): pixel-wise 2-class softmax cross-entropy + L2 1e-9; Adam
  (0.9, 0.999, 1e-8) lr 5e-4, batch 250, 20 epochs of 8,000 steps, lr halved at the start of
  epochs 10, 15, 17.
* ``proposals`` (MaskNet stage 1, from a trained Siamese U-Net): 4 foreground cells (floor/ceil
  of the ground-truth centre of mass / 8) trained to the full mask, 4 background cells trained to
  an empty mask; lr 5e-5, batch 50, 5 epochs of 40,000 steps, halved at epochs 2, 3, 4. Decision:
  the code's background draw can hit a foreground cell and its ceil() can leave the grid (spec
  §5.16); here background cells exclude the foreground cells and cells are clamped to the grid.
* ``discriminator`` (MaskNet stage 2, from stage 1): the discriminator encoder starts as a copy of
  the target encoder, only it and the weighted sum train; per sample one foreground cell (one
  random choice of the four per batch, as the code) labelled 1 and 3 background cells labelled 0;
  the authors' BCE with 1e-4 in the logs; lr 2.5e-4, batch 250, 5 epochs of 8,000 steps, halved at
  epochs 2, 3, 4; validated on MaskNet's output (``iou``: the best of all 144 proposals).
* ``oracle`` (discriminator oracles, paper §5.3): one crop of the target and three of random other
  visible glyphs per sample, BCE, lr 5e-4, batch 250, 20 epochs of 8,000 steps, halved at 10/15/17;
  validated on the test decision (``scene_accuracy``: the target against every visible glyph).

``--steps`` shortens a run and keeps the halvings at the same fractions of it. Data come from the
training stream (deterministic in (seed, step)); every random choice of a step is drawn from a
generator seeded by (seed, rank, step), so a resumed run repeats an uninterrupted one exactly.
Validation uses ``val-train`` only (the paper's protocol; test splits are never used here).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from oneshotbench.errors import OneshotbenchError
from reference_models import count_parameters, create_model, model_entry
from reference_models.checkpoint import (
    METRICS_LOG,
    CheckpointInfo,
    load_checkpoint,
    load_optimizer,
    read_info,
    save_checkpoint,
    sidecar_path,
)
from reference_models.normalization import STATS_SCENES, InputStats, compute_input_stats
from reference_models.objectives import (
    VALIDATION_METRICS,
    Batch,
    Objective,
    Stream,
    StreamFactory,
    batch_from_stream,
    freeze_for_stage,
    init_stage,
)

CHECKPOINT_NAME = "checkpoint.safetensors"


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Schedule:
    """The paper's optimiser settings for one training stage."""

    lr: float
    batch_size: int
    epochs: int
    steps_per_epoch: int
    halve_at: tuple[int, ...]  # epochs at whose start the learning rate is halved

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def lr_at(
        self, step: int, total_steps: int, base_lr: float, warmup: tuple[int, int] = (0, 0)
    ) -> float:
        """Learning rate of 0-based ``step`` of a run of ``total_steps`` (milestones scale).

        ``warmup = (first, n)`` ramps it linearly over the n steps from ``first`` (a warm start
        from weights without optimiser state: Adam's moments start at zero).
        """
        halvings = sum(step >= round(m * total_steps / self.epochs) for m in self.halve_at)
        first, n = warmup
        ramp = min(1.0, (step - first + 1) / n) if n > 0 else 1.0
        return base_lr / 2**halvings * ramp


SCHEDULES: dict[str, Schedule] = {
    "segmentation": Schedule(5e-4, 250, 20, 8_000, (10, 15, 17)),
    "proposals": Schedule(5e-5, 50, 5, 40_000, (2, 3, 4)),
    "discriminator": Schedule(2.5e-4, 250, 5, 8_000, (2, 3, 4)),
    "oracle": Schedule(5e-4, 250, 20, 8_000, (10, 15, 17)),
}


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """One training run; ``None`` fields take the paper's value for the stage."""

    model: str
    level: int
    out_dir: Path
    size: str = "paper"
    stage: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    init: Path | None = None
    compile: bool = False
    channels_last: bool = False
    precision: str = "auto"  # auto: bf16 autocast on CUDA, float32 on CPU; or "bf16" / "fp32"
    log_every: int = 50
    val_every: int = 1000
    checkpoint_every: int = 1000
    checkpoint_seconds: float | None = None  # also checkpoint when this much time has passed
    start_step: int = 0  # a warm start from --init continues the schedule here
    warmup_steps: int = 0  # linear learning-rate warm-up from start_step
    dataset: dict = field(default_factory=lambda: {"name": "cluttered-omniglot", "version": 1})

    def resolved(self) -> TrainConfig:
        """Fill in the stage and the paper defaults; validate the combination."""
        entry = model_entry(self.model)
        stage = self.stage or entry.stages[0]
        if stage not in entry.stages:
            raise OneshotbenchError(
                f"model {self.model!r} has stages {', '.join(entry.stages)}, not {stage!r}"
            )
        if stage in ("proposals", "discriminator") and self.init is None:
            needs = "a trained siamese_unet" if stage == "proposals" else "its proposals stage"
            raise OneshotbenchError(
                f"{self.model} stage {stage!r} starts from {needs}; pass --init"
            )
        schedule = SCHEDULES[stage]
        resolved = replace(
            self,
            stage=stage,
            steps=self.steps or schedule.total_steps,
            batch_size=self.batch_size or schedule.batch_size,
            lr=self.lr or schedule.lr,
        )
        if self.precision not in PRECISIONS:
            raise OneshotbenchError(
                f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
            )
        if resolved.steps <= 0 or resolved.batch_size <= 0 or resolved.lr <= 0:
            raise OneshotbenchError("--steps, --batch-size and --lr must be positive")
        if not 0 <= resolved.start_step < resolved.steps or resolved.warmup_steps < 0:
            raise OneshotbenchError(
                f"--start-step must be in 0..{resolved.steps - 1} and --warmup-steps >= 0"
            )
        return resolved

    def continuing(self, info: CheckpointInfo) -> TrainConfig:
        """For ``--resume``: options not given again default to the checkpoint's run."""
        stored = info.config
        return replace(
            self,
            stage=self.stage or info.stage,
            steps=self.steps or info.total_steps,
            batch_size=self.batch_size or stored.get("batch_size"),
            lr=self.lr or stored.get("lr"),
            precision=self.precision
            if self.precision != "auto"
            else stored.get("precision", "auto"),
        )

    def to_json(self) -> dict:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["init"] = None if self.init is None else str(self.init)
        return data


PRECISIONS = ("auto", "bf16", "fp32")


def autocast_for(precision: str, device: torch.device) -> AbstractContextManager:
    """The training step's autocast: bf16 where asked, or by default on CUDA.

    On a CPU with AMX (or AVX-512 BF16) units ``bf16`` about doubles the paper-size training rate
    (``benchmarks/bench_training.py``); the discriminator head and the BCE stay float32 either way.
    """
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AMX or AVX-512 BF16) rather than emulating it.

    Where it emulates it, bf16 autocast is an order of magnitude slower than float32: on a 2-core
    AVX2-only AMD EPYC a paper-size cluttered-discriminator step took about 30 s in bf16 and 3 s in
    float32. Where torch cannot tell, the answer is yes (no false alarm).
    """
    probes = [
        getattr(torch.cpu, name, None)
        for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    ]
    known = [probe for probe in probes if probe is not None]
    return not known or any(probe() for probe in known)


# --------------------------------------------------------------------------- logging


class MetricsLog:
    """Append-only ``metrics.csv`` and ``metrics.jsonl`` in the run directory."""

    FIELDS = ("step", "split", "loss", "metric", "metric_name", "lr", "samples_per_s", "time")

    def __init__(self, out_dir: Path) -> None:
        self.csv_path = out_dir / METRICS_LOG
        self.jsonl_path = out_dir / "metrics.jsonl"

    def append(self, record: dict) -> None:
        new = not self.csv_path.exists()
        with self.csv_path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(record)
        with self.jsonl_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")


# --------------------------------------------------------------------------- the loop


@dataclass(frozen=True)
class Dist:
    """Process group facts (world 1 = plain single-process training)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def step_generator(seed: int, rank: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of one step's random choices: a pure function of (seed, rank, step)."""
    state = np.random.SeedSequence([seed, rank, step]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def rank_seed(seed: int, dist: Dist) -> int:
    """Stream seed of this rank: the user's seed on rank 0 / single process, derived otherwise."""
    if dist.world == 1:
        return seed
    return int(np.random.SeedSequence([seed, dist.rank]).generate_state(1, dtype=np.uint32)[0])


def input_stats_from(stream: Stream, batch_size: int) -> InputStats:
    """Constants from the first 1000 training scenes of the (rank-0) stream (spec §3.1)."""
    steps = -(-STATS_SCENES // batch_size)
    return compute_input_stats(stream.batch(step)["scene"] for step in range(steps))


def validate(objective: Objective, batches: list[Batch], seed: int) -> tuple[float, str, float]:
    """Mean loss, metric name and metric over fixed val-train batches (fixed random choices).

    The metric is the stage's training metric, or the task's own where
    :data:`VALIDATION_METRICS` names one (the oracles: the decision over every glyph)."""
    task = VALIDATION_METRICS.get(objective.stage)
    losses, metrics, name = [], [], ""
    with torch.no_grad():
        for i, batch in enumerate(batches):
            gen = step_generator(seed, 2**16, i, batch.scene.device)
            loss, metric = objective(batch, gen)
            losses.append(float(loss))
            if task is None:
                name, value = next(iter(metric.items()))
            else:
                name, value = task[0], task[1](objective.model, batch)
            metrics.append(float(value))
    return float(np.mean(losses)), name, float(np.mean(metrics))


Event = Callable[[dict], None]


def train(
    config: TrainConfig,
    streams: StreamFactory,
    device: torch.device,
    *,
    val_batches: list[Batch] | None = None,
    resume: bool = False,
    dist: Dist = Dist(),
    on_event: Event | None = None,
    stop: Callable[[], bool] | None = None,
) -> Path:
    """Run (or resume) one training stage; returns the checkpoint path.

    ``streams(seed, batch_size)`` builds the training stream (``TrainingStream`` in the CLI, a fake
    in tests). Rank 0 writes the checkpoint every ``checkpoint_every`` steps (and every
    ``checkpoint_seconds``) and at the end, and appends train/val records to the metrics log.
    When ``stop()`` turns true (Ctrl-C, SIGTERM, a wall-clock deadline) the step in flight
    finishes, a checkpoint is written and the function returns early.
    """
    config = config.resolved()
    entry = model_entry(config.model)
    ckpt = config.out_dir / CHECKPOINT_NAME
    per_rank = config.batch_size // dist.world
    if per_rank * dist.world != config.batch_size:
        raise OneshotbenchError(
            f"--batch-size {config.batch_size} does not split over {dist.world} ranks"
        )
    stream = streams(rank_seed(config.seed, dist), per_rank)

    start = config.start_step
    if resume:
        if not sidecar_path(ckpt).exists():
            raise OneshotbenchError(
                f"nothing to resume in {config.out_dir}: no checkpoint was written there yet "
                "(start again without --resume)"
            )
        info = read_info(ckpt)
        _check_resumable(info, config, ckpt)
        model, _ = load_checkpoint(ckpt)
        start = info.step
    else:
        if ckpt.exists():
            raise OneshotbenchError(f"{ckpt} exists; pass --resume to continue it or choose --out")
        init_info = read_info(config.init) if config.init is not None else None
        if init_info is not None and init_info.level == config.level:
            stats = init_info.stats  # same level's training data, already measured
        else:  # fresh, or warm-started from another level: this level's own constants
            stats_stream = stream if dist.world == 1 else streams(config.seed, per_rank)
            stats = input_stats_from(stats_stream, per_rank)
        with torch.random.fork_rng(devices=[]):  # initialisation is a function of the seed
            torch.manual_seed(config.seed)
            model = create_model(config.model, config.size, stats)
            init_stage(model, config.stage, config.init)
    freeze_for_stage(model, config.stage)
    model.to(device).train()
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
    objective: nn.Module = Objective(model, config.stage)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    if resume:
        load_optimizer(ckpt, optimizer)
    warmup = (config.start_step, config.warmup_steps)
    if dist.world > 1:
        objective = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None
        )
    step_fn = torch.compile(objective) if config.compile else objective
    autocast = autocast_for(config.precision, device)
    log = MetricsLog(config.out_dir) if dist.main else None
    if dist.main:
        config.out_dir.mkdir(parents=True, exist_ok=True)
    schedule = SCHEDULES[config.stage]
    emit = on_event or (lambda record: None)
    emit(
        {
            "event": "start",
            "step": start,
            "total": config.steps,
            "parameters": count_parameters(model),
            "model": entry.name,
            "stage": config.stage,
        }
    )

    def save(step: int) -> None:
        info = CheckpointInfo(
            model=config.model,
            size=config.size,
            level=config.level,
            stage=config.stage,
            step=step,
            total_steps=config.steps,
            stats=model.stats,
            dataset=config.dataset,
            config=config.to_json(),
        )
        save_checkpoint(ckpt, model, info, optimizer)
        emit({"event": "checkpoint", "step": step, "path": str(ckpt)})

    window_start, window_steps, losses, metrics = time.perf_counter(), 0, [], []
    saved_at = time.monotonic()
    for step in range(start, config.steps):
        lr = schedule.lr_at(step, config.steps, config.lr, warmup)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = batch_from_stream(stream.batch(step), memory_format)
        with autocast:
            loss, metric = step_fn(batch, step_generator(config.seed, dist.rank, step, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        metrics.append(next(iter(metric.values())).detach())
        window_steps += 1
        done = step + 1
        stopping = stop is not None and stop()
        if log is not None and (done % config.log_every == 0 or done == config.steps or stopping):
            elapsed = time.perf_counter() - window_start
            record = {
                "step": done,
                "split": "train",
                "loss": float(torch.stack(losses).mean()),
                "metric": float(torch.stack(metrics).mean()),
                "metric_name": next(iter(metric)),
                "lr": lr,
                "samples_per_s": window_steps * config.batch_size / elapsed,
                "time": time.time(),
            }
            log.append(record)
            emit({"event": "train", **record})
            window_start, window_steps, losses, metrics = time.perf_counter(), 0, [], []
        validate_now = done % config.val_every == 0 or done == config.steps
        if log is not None and val_batches and validate_now:
            model.eval()
            val_loss, val_name, val_metric = validate(
                objective_module(objective), val_batches, config.seed
            )
            model.train()
            record = {
                "step": done,
                "split": "val-train",
                "loss": val_loss,
                "metric": val_metric,
                "metric_name": val_name,
                "lr": lr,
                "time": time.time(),
            }
            log.append(record)
            emit({"event": "val", **record})
        timed = config.checkpoint_seconds is not None
        if dist.main and (
            done % config.checkpoint_every == 0
            or done == config.steps
            or stopping
            or (timed and time.monotonic() - saved_at >= config.checkpoint_seconds)
        ):
            save(done)
            saved_at = time.monotonic()
        if stopping:
            emit({"event": "stopped", "step": done, "total": config.steps, "path": str(ckpt)})
            break
    return ckpt


def objective_module(objective: nn.Module) -> Objective:
    """The plain Objective inside a DDP wrapper (validation runs on rank 0 only)."""
    ddp = nn.parallel.DistributedDataParallel
    return objective.module if isinstance(objective, ddp) else objective


def _check_resumable(info: CheckpointInfo, config: TrainConfig, path: Path) -> None:
    mine = (config.model, config.size, config.level, config.stage, config.steps)
    theirs = (info.model, info.size, info.level, info.stage, info.total_steps)
    if mine != theirs:
        names = ("model", "size", "level", "stage", "steps")
        pairs = zip(names, mine, theirs, strict=True)
        diff = ", ".join(f"{n} {t!r} (asked {m!r})" for n, m, t in pairs if m != t)
        raise OneshotbenchError(f"cannot resume {path}: it was started with {diff}")


def distributed_setup() -> Dist:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    if torch.cuda.is_available():  # before NCCL starts, or every rank binds GPU 0
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(rank=torch.distributed.get_rank(), world=world)


def distributed_teardown(dist: Dist) -> None:
    """Wait for rank 0's last checkpoint, then leave the process group cleanly."""
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
