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
  epochs 2, 3, 4.
* ``oracle`` (discriminator oracles, paper §5.3): one crop of the target and three of random other
  visible glyphs per sample, BCE, lr 5e-4, batch 250, 20 epochs of 8,000 steps, halved at 10/15/17.

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
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from oneshotbench.errors import OneshotbenchError
from oneshotbench.metrics import binarize, iou
from reference_models import count_parameters, create_model, model_entry
from reference_models.checkpoint import (
    CheckpointInfo,
    load_checkpoint,
    load_optimizer,
    load_state,
    read_info,
    save_checkpoint,
)
from reference_models.layers import instance_centers, l2_penalty, paper_bce
from reference_models.masknet import GRID, NUM_PROPOSALS, MaskNet
from reference_models.normalization import STATS_SCENES, InputStats, compute_input_stats

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

    def lr_at(self, step: int, total_steps: int, base_lr: float) -> float:
        """Learning rate of 0-based ``step`` of a run of ``total_steps`` (milestones scale)."""
        halvings = sum(step >= round(m * total_steps / self.epochs) for m in self.halve_at)
        return base_lr / 2**halvings


SCHEDULES: dict[str, Schedule] = {
    "segmentation": Schedule(5e-4, 250, 20, 8_000, (10, 15, 17)),
    "proposals": Schedule(5e-5, 50, 5, 40_000, (2, 3, 4)),
    "discriminator": Schedule(2.5e-4, 250, 5, 8_000, (2, 3, 4)),
    "oracle": Schedule(5e-4, 250, 20, 8_000, (10, 15, 17)),
}


# --------------------------------------------------------------------------- data


@dataclass
class Batch:
    """One training or validation batch on the training device (images in [0, 1])."""

    target: Tensor  # float32 [B, 3, 32, 32]
    scene: Tensor  # float32 [B, 3, 96, 96]
    mask: Tensor  # bool [B, 96, 96]
    instance_map: Tensor  # int64 [B, 96, 96]
    target_com: Tensor  # int64 [B, 2] (x, y), (-1, -1) for an empty mask
    num_glyphs: int  # the clutter level L

    def __len__(self) -> int:
        return len(self.scene)


def batch_from_stream(data: dict[str, Tensor]) -> Batch:
    """A TrainingStream batch (uint8 NCHW images) -> :class:`Batch`."""
    return Batch(
        target=data["target"].float() / 255.0,
        scene=data["scene"].float() / 255.0,
        mask=data["mask"].bool(),
        instance_map=data["instance_map"].long(),
        target_com=data["target_com"].long(),
        num_glyphs=int(data["centers"].shape[1]),
    )


def batch_from_samples(samples: Any, level: int, device: torch.device | str) -> Batch:
    """Dataset ``Samples`` (uint8 NHWC numpy arrays) -> :class:`Batch` on ``device``."""

    def images(arr: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(0, 3, 1, 2) / 255.0

    return Batch(
        target=images(samples.target),
        scene=images(samples.scene),
        mask=torch.from_numpy(samples.mask).to(device),
        instance_map=torch.from_numpy(samples.instance_map.astype(np.int64)).to(device),
        target_com=torch.from_numpy(samples.target_com).to(device),
        num_glyphs=level,
    )


class Stream(Protocol):
    """The part of ``oneshotbench.datasets.TrainingStream`` the loop uses."""

    def batch(self, step: int) -> dict[str, Tensor]: ...


StreamFactory = Callable[[int, int], Stream]
"""(seed, batch_size) -> stream."""


# --------------------------------------------------------------------------- stage objectives


def foreground_cells(target_com: Tensor) -> Tensor:
    """The 4 grid cells around the target's centre of mass / 8 (floor/ceil in x and y) [B, 4]."""
    scaled = target_com.to(torch.float32) / (96 / GRID)
    lo = torch.floor(scaled).long().clamp(0, GRID - 1)
    hi = torch.ceil(scaled).long().clamp(0, GRID - 1)
    xs = torch.stack([lo[:, 0], hi[:, 0], lo[:, 0], hi[:, 0]], dim=1)
    ys = torch.stack([lo[:, 1], lo[:, 1], hi[:, 1], hi[:, 1]], dim=1)
    return xs + GRID * ys


def background_cells(foreground: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` distinct random cells per sample, none of them a foreground cell [B, count]."""
    keys = torch.rand(len(foreground), NUM_PROPOSALS, generator=generator, device=foreground.device)
    keys.scatter_(1, foreground, 2.0)
    return keys.topk(count, dim=1, largest=False).indices


Metrics = dict[str, Tensor]
StepResult = tuple[Tensor, Metrics]


def segmentation_objective(model: nn.Module, batch: Batch, gen: torch.Generator) -> StepResult:
    logits = model(batch.target, batch.scene).float()
    loss = F.cross_entropy(logits, batch.mask.long()) + l2_penalty(model)
    pred = binarize(torch.softmax(logits.detach(), dim=1)[:, 1])
    return loss, {"iou": iou(pred, batch.mask).mean()}


def proposals_objective(model: MaskNet, batch: Batch, gen: torch.Generator) -> StepResult:
    fg = foreground_cells(batch.target_com)
    cells = torch.cat([fg, background_cells(fg, 4, gen)], dim=1)
    logits, _ = model.decode(batch.target, batch.scene, cells)
    labels = torch.cat(
        [
            batch.mask[:, None].expand(-1, 4, -1, -1),
            torch.zeros_like(batch.mask)[:, None].expand(-1, 4, -1, -1),
        ],
        dim=1,
    )
    logits = logits.flatten(0, 1).float()
    labels = labels.flatten(0, 1)
    penalty = sum(l2_penalty(m) for m in (model.target_encoder, model.scene_encoder, model.decoder))
    loss = F.cross_entropy(logits, labels.long()) + penalty
    pred = binarize(torch.softmax(logits.detach(), dim=1)[:, 1])
    return loss, {"iou": iou(pred, labels).mean()}


def discriminator_objective(model: MaskNet, batch: Batch, gen: torch.Generator) -> StepResult:
    with torch.no_grad():
        fg = foreground_cells(batch.target_com)
        pick = torch.randint(4, (1, 1), generator=gen, device=fg.device)  # stays on the device
        cells = torch.cat([fg.gather(1, pick.expand(len(fg), 1)), background_cells(fg, 3, gen)], 1)
        logits, target_vectors = model.decode(batch.target, batch.scene, cells)
        foreground = torch.softmax(logits.float(), dim=2)[:, :, 1]
    scores = model.score(foreground, target_vectors)
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    loss = paper_bce(scores, labels) + l2_penalty(model.discriminator.encoder)
    return loss, {"accuracy": (scores.detach().argmax(dim=1) == 0).float().mean()}


def oracle_pairs(visible: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """The target (id L) and 3 random other visible glyphs per sample, with pair weights.

    Returns 1-based glyph ids [B, 4] and weights [B, 4]: a pair is dropped (weight 0) when the
    target is invisible or no other glyph is visible.
    """
    others = visible.clone()
    others[:, -1] = False
    has_other = others.any(dim=1)
    probs = torch.where(has_other[:, None], others, visible | ~visible.any(dim=1, keepdim=True))
    negatives = torch.multinomial(probs.float(), 3, replacement=True, generator=gen)
    target = torch.full_like(negatives[:, :1], visible.shape[1] - 1)
    weight = torch.cat([visible[:, -1:], has_other[:, None].expand(-1, 3)], dim=1).float()
    return torch.cat([target, negatives], dim=1) + 1, weight


def oracle_objective(model: nn.Module, batch: Batch, gen: torch.Generator) -> StepResult:
    centers, visible = instance_centers(batch.instance_map, batch.num_glyphs)
    ids, weight = oracle_pairs(visible, gen)
    sample = torch.arange(len(batch), device=ids.device).repeat_interleave(4)
    flat = ids.flatten()
    scores = model.pair_scores(
        batch.target, batch.scene, batch.instance_map, sample, flat, centers[sample, flat - 1]
    ).view(-1, 4)
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    loss = paper_bce(scores, labels, weight) + l2_penalty(model)
    return loss, {"accuracy": (scores.detach().argmax(dim=1) == 0).float().mean()}


OBJECTIVES: dict[str, Callable[..., tuple[Tensor, Metrics]]] = {
    "segmentation": segmentation_objective,
    "proposals": proposals_objective,
    "discriminator": discriminator_objective,
    "oracle": oracle_objective,
}


class Objective(nn.Module):
    """model + stage loss as one module, so DDP sees every forward it must synchronise."""

    def __init__(self, model: nn.Module, stage: str) -> None:
        super().__init__()
        self.model = model
        self.stage = stage

    def forward(self, batch: Batch, generator: torch.Generator) -> tuple[Tensor, Metrics]:
        return OBJECTIVES[self.stage](self.model, batch, generator)


def init_stage(model: nn.Module, stage: str, init: Path | None) -> None:
    """Fresh start of a stage: weights from ``init``; stage 2 copies the target encoder."""
    if init is not None:
        ignore = ("discriminator.",) if stage == "proposals" else ()
        load_state(model, load_checkpoint(init)[0].state_dict(), init, ignore_prefixes=ignore)
    if stage == "discriminator":
        model.discriminator.encoder.load_state_dict(model.target_encoder.state_dict())
        nn.init.xavier_uniform_(model.discriminator.weighted_sum.weight)


def freeze_for_stage(model: nn.Module, stage: str) -> None:
    """Only the parameters the stage trains keep ``requires_grad`` (MaskNet's two stages)."""
    prefix = "discriminator."
    for name, param in model.named_parameters():
        if stage == "proposals":
            param.requires_grad_(not name.startswith(prefix))
        elif stage == "discriminator":
            param.requires_grad_(name.startswith(prefix))


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
    log_every: int = 50
    val_every: int = 1000
    checkpoint_every: int = 1000
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
        if resolved.steps <= 0 or resolved.batch_size <= 0 or resolved.lr <= 0:
            raise OneshotbenchError("--steps, --batch-size and --lr must be positive")
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
        )

    def to_json(self) -> dict:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["init"] = None if self.init is None else str(self.init)
        return data


# --------------------------------------------------------------------------- logging


class MetricsLog:
    """Append-only ``metrics.csv`` and ``metrics.jsonl`` in the run directory."""

    FIELDS = ("step", "split", "loss", "metric", "metric_name", "lr", "samples_per_s", "time")

    def __init__(self, out_dir: Path) -> None:
        self.csv_path = out_dir / "metrics.csv"
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


def validate(objective: nn.Module, batches: list[Batch], seed: int) -> tuple[float, float]:
    """Mean loss and stage metric over fixed val-train batches (fixed random choices)."""
    losses, metrics = [], []
    with torch.no_grad():
        for i, batch in enumerate(batches):
            gen = step_generator(seed, 2**16, i, batch.scene.device)
            loss, metric = objective(batch, gen)
            losses.append(float(loss))
            metrics.append(float(next(iter(metric.values()))))
    return float(np.mean(losses)), float(np.mean(metrics))


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
) -> Path:
    """Run (or resume) one training stage; returns the checkpoint path.

    ``streams(seed, batch_size)`` builds the training stream (``TrainingStream`` in the CLI, a fake
    in tests). Rank 0 writes the checkpoint every ``checkpoint_every`` steps and at the end, and
    appends train/val records to the metrics log.
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

    start = 0
    if resume:
        info = read_info(ckpt)
        _check_resumable(info, config, ckpt)
        model, _ = load_checkpoint(ckpt)
        start = info.step
    else:
        if ckpt.exists():
            raise OneshotbenchError(f"{ckpt} exists; pass --resume to continue it or choose --out")
        if config.init is not None:
            stats = read_info(config.init).stats  # same level's training data, already measured
        else:
            stats_stream = stream if dist.world == 1 else streams(config.seed, per_rank)
            stats = input_stats_from(stats_stream, per_rank)
        with torch.random.fork_rng(devices=[]):  # initialisation is a function of the seed
            torch.manual_seed(config.seed)
            model = create_model(config.model, config.size, stats)
            init_stage(model, config.stage, config.init)
    freeze_for_stage(model, config.stage)
    model.to(device).train()
    objective: nn.Module = Objective(model, config.stage)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    if resume:
        load_optimizer(ckpt, optimizer)
    if dist.world > 1:
        objective = nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None
        )
    step_fn = torch.compile(objective) if config.compile else objective
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    )
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
    for step in range(start, config.steps):
        lr = schedule.lr_at(step, config.steps, config.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = batch_from_stream(stream.batch(step))
        with autocast:
            loss, metric = step_fn(batch, step_generator(config.seed, dist.rank, step, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        metrics.append(next(iter(metric.values())).detach())
        window_steps += 1
        done = step + 1
        if log is not None and (done % config.log_every == 0 or done == config.steps):
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
            val_loss, val_metric = validate(objective_module(objective), val_batches, config.seed)
            model.train()
            record = {
                "step": done,
                "split": "val-train",
                "loss": val_loss,
                "metric": val_metric,
                "metric_name": next(iter(metric)),
                "lr": lr,
                "time": time.time(),
            }
            log.append(record)
            emit({"event": "val", **record})
        if dist.main and (done % config.checkpoint_every == 0 or done == config.steps):
            save(done)
    return ckpt


def objective_module(objective: nn.Module) -> nn.Module:
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
    torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(rank=torch.distributed.get_rank(), world=world)


def distributed_teardown(dist: Dist) -> None:
    """Wait for rank 0's last checkpoint, then leave the process group cleanly."""
    if dist.world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
