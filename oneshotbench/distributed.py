"""This process's place under ``torchrun`` and the device it scores on.

``evaluate`` runs as one process or as several under ``torchrun``; every process scores its share
of the batches and process 0 writes the record. A plain run is a group of one, so the rest of the
harness never asks which case it is in.
"""

from __future__ import annotations

import os

import torch

from oneshotbench.errors import OneshotbenchError


class Group:
    """This process's place under ``torchrun`` (a group of one otherwise)."""

    def __init__(self, device: torch.device):
        import torch.distributed as dist

        self._dist = dist
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.owned = False
        if self.world > 1 and device.type == "cuda":
            torch.cuda.set_device(device)  # NCCL's object collectives use the current device
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.owned = True
        self.rank = dist.get_rank() if self.world > 1 else 0
        self.world = dist.get_world_size() if self.world > 1 else 1

    def gather(self, obj: object) -> list:
        """Every process's ``obj``, on every process."""
        if self.world == 1:
            return [obj]
        out: list = [None] * self.world
        self._dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            self._dist.barrier()

    def close(self) -> None:
        if self.owned:
            self._dist.destroy_process_group()


def resolve_device(device: str) -> torch.device:
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError):
        raise OneshotbenchError(f"unknown device {device!r}; try 'cpu' or 'cuda'") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise OneshotbenchError(f"device {device!r} requested but CUDA is not available")
        if resolved.index is None:
            resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return resolved
