"""Checkpoints: safetensors weights plus a JSON sidecar that says what the weights are.

``<name>.safetensors`` holds the model's state dict (no pickle), ``<name>.json`` the model name,
size, clutter level, training stage and step, dataset, training configuration, the input
normalisation constants and the SHA-256 of the weight files; ``<name>.optim.safetensors`` (only
for resumable training checkpoints) the flattened optimiser state. Every way a checkpoint can be
unusable — missing or truncated files, a digest mismatch, an unknown format, another model or
level than expected, tensors that do not fit the architecture — raises a
:class:`~oneshotbench.errors.OneshotbenchError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from oneshotbench.cache import atomic_write_bytes
from oneshotbench.errors import OneshotbenchError
from reference_models import create_model, features_for
from reference_models.normalization import InputStats

FORMAT = "oneshotbench-checkpoint"
METRICS_LOG = "metrics.csv"
"""The training log: written in the run directory, kept beside the exported checkpoint."""
FORMAT_VERSION = 1


class CheckpointError(OneshotbenchError):
    """A checkpoint is missing, corrupt, or not the one the caller needs."""


@dataclass(frozen=True)
class CheckpointInfo:
    """Everything the sidecar records about a set of weights."""

    model: str
    size: str
    level: int
    stage: str
    step: int
    total_steps: int
    stats: InputStats
    dataset: dict = field(default_factory=dict)  # {"name": ..., "version": ...}
    config: dict = field(default_factory=dict)  # training configuration (lr, batch, seed, ...)

    def to_json(self) -> dict:
        data = asdict(self)
        data["stats"] = self.stats.to_dict()
        data["features"] = features_for(self.size)
        return data

    @classmethod
    def from_json(cls, data: dict) -> CheckpointInfo:
        return cls(
            model=str(data["model"]),
            size=str(data["size"]),
            level=int(data["level"]),
            stage=str(data["stage"]),
            step=int(data["step"]),
            total_steps=int(data["total_steps"]),
            stats=InputStats.from_dict(data["stats"]),
            dataset=dict(data.get("dataset", {})),
            config=dict(data.get("config", {})),
        )


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def optimizer_path(weights: str | Path) -> Path:
    path = Path(weights)
    return path.with_name(path.stem + ".optim.safetensors")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """Optimizer state -> flat tensors ``state.<param>.<key>`` plus JSON-able param groups."""
    state = optimizer.state_dict()
    tensors = {
        f"state.{index}.{key}": torch.as_tensor(value).detach().cpu().contiguous()
        for index, entry in state["state"].items()
        for key, value in entry.items()
    }
    return tensors, state["param_groups"]


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    info: CheckpointInfo,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Write weights (and optimiser state) atomically, then the sidecar that vouches for them."""
    weights = st_save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    atomic_write_bytes(path, weights)
    sidecar = {"format": FORMAT, "format_version": FORMAT_VERSION, **info.to_json()}
    sidecar["weights_sha256"] = _digest(weights)
    if optimizer is not None:
        tensors, groups = _flatten_optimizer(optimizer)
        blob = st_save(tensors)
        atomic_write_bytes(optimizer_path(path), blob)
        sidecar["optimizer"] = {"sha256": _digest(blob), "param_groups": groups}
    atomic_write_bytes(sidecar_path(path), json.dumps(sidecar, indent=2).encode())


def export_checkpoint(
    source: str | Path, dest: str | Path, dtype: torch.dtype = torch.float16
) -> Path:
    """Copy checkpoint ``source`` to ``dest`` with float weights stored as ``dtype``, no optimiser.

    For files that must travel under a size limit (MaskNet's fp32 weights are 16.06 MiB, fp16
    8.03): loading casts them back to the model's float32 parameters. Both files are written
    atomically, the weights first, so a reader never sees a sidecar without its weights.
    """
    source, dest = Path(source), Path(dest)
    data = _read_sidecar(source)
    state = _read_verified(source, str(data.get("weights_sha256")), "weights")
    weights = st_save(
        {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    )
    atomic_write_bytes(dest, weights)
    data.pop("optimizer", None)
    data["weights_sha256"] = _digest(weights)
    data["weights_dtype"] = str(dtype).removeprefix("torch.")
    atomic_write_bytes(sidecar_path(dest), json.dumps(data, indent=2).encode())
    return dest


def _read_sidecar(path: Path) -> dict:
    side = sidecar_path(path)
    try:
        data = json.loads(side.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint sidecar {side} (beside {path}) is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint sidecar {side} is not valid JSON: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{side} is not a {FORMAT} sidecar")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{side} has format version {data.get('format_version')}, "
            f"this oneshotbench reads version {FORMAT_VERSION}"
        )
    return data


def _read_verified(path: Path, expected_sha256: str, what: str) -> dict[str, torch.Tensor]:
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{what} file {path} is missing") from None
    if _digest(blob) != expected_sha256:
        raise CheckpointError(
            f"{what} file {path} is corrupt or was replaced: its SHA-256 does not match "
            f"{sidecar_path(path) if what == 'weights' else 'the sidecar'}"
        )
    try:
        return st_load(blob)
    except SafetensorError as err:
        raise CheckpointError(f"{what} file {path} is not valid safetensors: {err}") from None


def read_info(path: str | Path) -> CheckpointInfo:
    """The sidecar of checkpoint ``path`` (validated, weights not read)."""
    path = Path(path)
    data = _read_sidecar(path)
    try:
        return CheckpointInfo.from_json(data)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"sidecar {sidecar_path(path)} is incomplete: {err}") from None


def load_state(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    source: Path,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Copy ``state`` into ``model``; all tensors must fit; keys may lack only under prefixes."""
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(ignore_prefixes)]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        details = "; ".join(
            f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", wrong))
            if items
        )
        raise CheckpointError(f"weights in {source} do not fit {type(model).__name__}: {details}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def load_checkpoint(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    expect_model: str | tuple[str, ...] | None = None,
    expect_level: int | None = None,
) -> tuple[nn.Module, CheckpointInfo]:
    """Rebuild the model of checkpoint ``path`` with its weights and constants, in eval mode."""
    path = Path(path)
    data = _read_sidecar(path)
    info = read_info(path)
    expected = (expect_model,) if isinstance(expect_model, str) else expect_model
    if expected is not None and info.model not in expected:
        raise CheckpointError(
            f"checkpoint {path} holds model {info.model!r}, expected {' or '.join(expected)}"
        )
    if expect_level is not None and info.level != expect_level:
        raise CheckpointError(
            f"checkpoint {path} was trained for clutter level {info.level}, not {expect_level}"
        )
    if data.get("features") != features_for(info.size):
        raise CheckpointError(f"sidecar {sidecar_path(path)}: features disagree with {info.size}")
    state = _read_verified(path, str(data.get("weights_sha256")), "weights")
    model = create_model(info.model, info.size, info.stats)
    load_state(model, state, path)
    return model.to(device).eval(), info


def load_optimizer(path: str | Path, optimizer: torch.optim.Optimizer) -> None:
    """Restore the optimiser state saved with training checkpoint ``path``."""
    path = Path(path)
    record = _read_sidecar(path).get("optimizer")
    if record is None:
        raise CheckpointError(f"checkpoint {path} has no optimizer state; it cannot be resumed")
    tensors = _read_verified(optimizer_path(path), str(record["sha256"]), "optimizer state")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    groups = [{**g, "betas": tuple(g["betas"])} for g in record["param_groups"]]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as err:
        raise CheckpointError(f"optimizer state in {path} does not fit this run: {err}") from None
