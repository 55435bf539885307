"""The stages' objectives and the batch they read: losses, metrics and per-stage set-up.

Split from :mod:`reference_models.training` (the loop): each stage is a function
``(model, batch, generator) -> (loss, {metric: value})``; see that module's docstring for the
paper's settings per stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from oneshotbench.metrics import binarize, iou
from reference_models.checkpoint import load_checkpoint, load_state
from reference_models.layers import instance_centers, l2_penalty, paper_bce
from reference_models.masknet import GRID, NUM_PROPOSALS, MaskNet

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


def batch_from_stream(
    data: dict[str, Tensor], memory_format: torch.memory_format = torch.contiguous_format
) -> Batch:
    """A TrainingStream batch (uint8 NCHW images) -> :class:`Batch` (channels_last on request)."""
    return Batch(
        target=(data["target"].float() / 255.0).contiguous(memory_format=memory_format),
        scene=(data["scene"].float() / 255.0).contiguous(memory_format=memory_format),
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


def _chunks(batch: Batch, size: int) -> list[Batch]:
    """``batch`` in slices of ``size`` samples: the task metrics below run every glyph or
    proposal of a sample at once (256 crops, 144 decoded maps), too much for a whole batch."""
    tensors = ("target", "scene", "mask", "instance_map", "target_com")
    return [
        replace(batch, **{name: getattr(batch, name)[i : i + size] for name in tensors})
        for i in range(0, len(batch), size)
    ]


def oracle_scene_accuracy(model: nn.Module, batch: Batch) -> Tensor:
    """The oracles' test decision on validation scenes: is the target (glyph L) the best-scoring
    of *every* visible glyph? The training pairs (target against 3 random glyphs) near their
    ceiling long before this does, so they say little about convergence."""
    hits = [
        model(part.target, part.scene, part.instance_map, part.num_glyphs)[0] == part.num_glyphs
        for part in _chunks(batch, 50)
    ]
    return torch.cat(hits).float().mean()


def masknet_iou(model: nn.Module, batch: Batch) -> Tensor:
    """MaskNet's test output on validation scenes: the best-scoring of all 144 proposals, scored
    by IoU (Table 1's metric); stage 2's training metric only ranks 1 true proposal against 3.
    Ten samples at a time, the authors' evaluation batch (144 decoded maps each)."""
    scores = [
        iou(binarize(torch.softmax(model(part.target, part.scene).float(), dim=1)[:, 1]), part.mask)
        for part in _chunks(batch, 10)
    ]
    return torch.cat(scores).mean()


VALIDATION_METRICS: dict[str, tuple[str, Callable[[nn.Module, Batch], Tensor]]] = {
    "oracle": ("scene_accuracy", oracle_scene_accuracy),
    "discriminator": ("iou", masknet_iou),
}
"""Stages validated on the task itself instead of their training metric: (name, metric). The
Siamese U-Net's training metric already is the task's (IoU); MaskNet's first stage has no task
of its own (its proposals are only ranked once stage 2 is trained)."""


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
