"""Glue between trained reference models and the predict protocol v1 (``submissions/*.py``).

A wrapper finds its checkpoint through ``$ONESHOTBENCH_CHECKPOINT`` (or its module's
``CHECKPOINT_PATH`` constant), loads it with its stored normalisation constants and answers
batches in chunks small enough for the device (MaskNet decodes 144 proposals per sample).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from oneshotbench.errors import OneshotbenchError
from reference_models import count_parameters
from reference_models.checkpoint import load_checkpoint

CHECKPOINT_ENV = "ONESHOTBENCH_CHECKPOINT"

Predict = Callable[..., Tensor | tuple[Tensor, Tensor]]


def resolve_checkpoint(constant: str | None, model: str) -> Path:
    """``$ONESHOTBENCH_CHECKPOINT`` if set, else the wrapper's constant; error if neither."""
    path = os.environ.get(CHECKPOINT_ENV) or constant
    if not path:
        raise OneshotbenchError(
            f"the {model} submission needs trained weights: set {CHECKPOINT_ENV} to a "
            f"checkpoint.safetensors written by `oneshotbench train {model} --level N`"
        )
    return Path(path)


def samples_per_pass(device: torch.device, cpu: int, cuda: int) -> int:
    return cuda if device.type == "cuda" else cpu


def in_chunks(size: int, fn: Callable[..., Tensor], *tensors: Tensor) -> Tensor:
    """Apply ``fn`` to consecutive ``size``-sample slices of ``tensors`` and concatenate."""
    n = len(tensors[0])
    return torch.cat([fn(*(t[i : i + size] for t in tensors)) for i in range(0, n, size)])


def segmentation_predictor(
    model_names: str | tuple[str, ...], constant: str | None, device: torch.device, chunk: int
) -> tuple[Predict, int]:
    """predict(targets, scenes) -> foreground probabilities of a segmentation network; and the
    network's parameter count (a wrapper sets its ``PARAMETERS`` to it, for the record)."""
    names = (model_names,) if isinstance(model_names, str) else model_names
    model, _ = load_checkpoint(
        resolve_checkpoint(constant, names[0]), device=device, expect_model=names
    )

    @torch.no_grad()
    def predict(targets: Tensor, scenes: Tensor) -> Tensor:
        return in_chunks(
            chunk, lambda t, s: torch.softmax(model(t, s).float(), dim=1)[:, 1], targets, scenes
        )

    return predict, count_parameters(model)


def scene_rng(scene: np.ndarray) -> np.random.Generator:
    """A generator seeded with a scene's own bytes: a random baseline's choice for a sample then
    never depends on its batch or position."""
    seed = int.from_bytes(hashlib.sha256(scene.tobytes()).digest()[:8], "little")
    return np.random.default_rng(seed)


def oracle_glyphs(oracle: dict, device: torch.device) -> tuple[Tensor, int, Tensor]:
    """Instance map (int64 [B,96,96]), clutter level L and target glyph ids [B] from oracle data.

    The target is the last pasted glyph, so its id is the largest ``k`` of the sample's table.
    """
    instance_map = torch.as_tensor(oracle["instance_map"]).to(device=device, dtype=torch.int64)
    tables = oracle["instances"]
    targets = torch.tensor([int(t["k"].max()) for t in tables], device=device)
    return instance_map, int(targets.max()), targets


def glyph_masks(instance_map: Tensor, ids: Tensor) -> Tensor:
    """Ground-truth masks of glyphs ``ids`` [B] (0 = none chosen -> empty) -> bool [B,96,96]."""
    return (instance_map == ids[:, None, None]) & (ids[:, None, None] > 0)


def discriminator_oracle_predictor(
    model: str, constant: str | None, device: torch.device
) -> tuple[Predict, int]:
    """predict(targets, scenes, oracle) -> (chosen glyph's mask, its crop centre); and the
    network's parameter count."""
    net, _ = load_checkpoint(resolve_checkpoint(constant, model), device=device, expect_model=model)
    chunk = samples_per_pass(device, cpu=16, cuda=250)

    @torch.no_grad()
    def predict(targets: Tensor, scenes: Tensor, oracle: dict) -> tuple[Tensor, Tensor]:
        instance_map, num_glyphs, _ = oracle_glyphs(oracle, device)
        parts = [
            net(
                targets[i : i + chunk],
                scenes[i : i + chunk],
                instance_map[i : i + chunk],
                num_glyphs,
            )
            for i in range(0, len(targets), chunk)
        ]
        chosen = torch.cat([p[0] for p in parts])
        return glyph_masks(instance_map, chosen), torch.cat([p[1] for p in parts])

    return predict, count_parameters(net)
