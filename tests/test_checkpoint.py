"""Checkpoints: exact round trip, and every broken or mismatched checkpoint is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from oneshotbench.errors import OneshotbenchError
from reference_models import create_model
from reference_models.checkpoint import (
    CheckpointInfo,
    load_checkpoint,
    load_optimizer,
    optimizer_path,
    read_info,
    save_checkpoint,
    sidecar_path,
)
from reference_models.normalization import InputStats

STATS = InputStats(mean=21.5, std=57.25)


def info(**overrides) -> CheckpointInfo:
    base = dict(
        model="siamese_unet",
        size="tiny",
        level=8,
        stage="segmentation",
        step=7,
        total_steps=10,
        stats=STATS,
        dataset={"name": "cluttered-omniglot", "version": 1},
        config={"lr": 5e-4, "seed": 3},
    )
    base.update(overrides)
    return CheckpointInfo(**base)


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = create_model("siamese_unet", "tiny", STATS)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 96, 96)).mean().backward()
    opt.step()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, info(), opt)
    return path, model, opt


def test_round_trip_restores_weights_constants_and_metadata(saved) -> None:
    path, model, _ = saved
    loaded, meta = load_checkpoint(path, expect_model="siamese_unet", expect_level=8)
    assert meta == info() == read_info(path)
    assert loaded.stats == STATS and not loaded.training
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["features"] == 4 and sidecar["stats"] == {"mean": 21.5, "std": 57.25}
    assert sidecar["dataset"] == {"name": "cluttered-omniglot", "version": 1}


def test_optimizer_state_round_trip(saved) -> None:
    path, model, opt = saved
    fresh = torch.optim.Adam(model.parameters(), lr=1.0)
    load_optimizer(path, fresh)
    a, b = opt.state_dict(), fresh.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index, entry in a["state"].items():
        for key, value in entry.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][index][key]))


def test_corrupt_weights_are_detected(saved) -> None:
    path, _, _ = saved
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(OneshotbenchError, match="corrupt"):
        load_checkpoint(path)


def test_truncated_or_missing_files(saved) -> None:
    path, _, _ = saved
    optimizer_path(path).write_bytes(b"xx")
    with pytest.raises(OneshotbenchError, match="optimizer state"):
        load_optimizer(path, torch.optim.Adam([torch.zeros(1, requires_grad=True)]))
    sidecar_path(path).write_text('{"format": "oneshotbench-checkpoint", ')
    with pytest.raises(OneshotbenchError, match="not valid JSON"):
        load_checkpoint(path)
    sidecar_path(path).unlink()
    with pytest.raises(OneshotbenchError, match="sidecar .* is missing"):
        load_checkpoint(path)


def test_mismatched_checkpoints(saved) -> None:
    path, _, _ = saved
    with pytest.raises(OneshotbenchError, match="holds model 'siamese_unet', expected masknet"):
        load_checkpoint(path, expect_model="masknet")
    with pytest.raises(OneshotbenchError, match="clutter level 8, not 4"):
        load_checkpoint(path, expect_level=4)
    data = json.loads(sidecar_path(path).read_text())
    data.update(size="paper", features=24)  # tiny weights claimed to be paper size
    sidecar_path(path).write_text(json.dumps(data))
    with pytest.raises(OneshotbenchError, match="do not fit SiameseUNet: shape"):
        load_checkpoint(path)
    data.update(model="masknet", size="tiny", features=4)
    sidecar_path(path).write_text(json.dumps(data))
    with pytest.raises(OneshotbenchError, match="missing: discriminator"):
        load_checkpoint(path)
    data.update(format_version=99)
    sidecar_path(path).write_text(json.dumps(data))
    with pytest.raises(OneshotbenchError, match="format version 99"):
        load_checkpoint(path)


def test_checkpoint_without_optimizer_cannot_resume(tmp_path: Path) -> None:
    model = create_model("siamese_unet", "tiny", STATS)
    path = tmp_path / "weights.safetensors"
    save_checkpoint(path, model, info())
    assert not optimizer_path(path).exists()
    with pytest.raises(OneshotbenchError, match="no optimizer state"):
        load_optimizer(path, torch.optim.Adam(model.parameters()))
