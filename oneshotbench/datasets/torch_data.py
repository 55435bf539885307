"""torch ``Dataset`` views: a map-style dataset per split and level, and the training stream.

Both are safe under ``DataLoader(num_workers=k)``: samples are pure functions of their index (or
of (seed, step)), so workers share no RNG state; each worker loads the glyphs itself on first use
instead of receiving 48 MB through pickling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from oneshotbench.datasets import stream
from oneshotbench.datasets.split import Split, load_split
from oneshotbench.errors import OneshotbenchError

Item = dict[str, torch.Tensor]
Transform = Callable[[Item], Item]


def usable_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device, or a clear error if this machine cannot use it."""
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise OneshotbenchError(f"unknown torch device {device!r}: {err}") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            why = "no CUDA device is visible" if torch.version.cuda else "no CUDA support"
            raise OneshotbenchError(
                f"device {str(device)!r} is not available: this torch build has {why}; "
                "use device='cpu'"
            )
        count = torch.cuda.device_count()
        if chosen.index is not None and chosen.index >= count:
            raise OneshotbenchError(
                f"device {str(device)!r} does not exist: {count} CUDA device(s) visible"
            )
    elif chosen.type == "mps" and not torch.backends.mps.is_available():
        raise OneshotbenchError("device 'mps' is not available on this machine; use device='cpu'")
    return chosen


class TrainingStream(stream.TrainingStream):
    """The training stream (:class:`oneshotbench.datasets.stream.TrainingStream`) with its
    device checked up front and a readable repr."""

    def __init__(self, level: int, batch_size: int = 250, seed: int = 0, device="cpu", *a, **kw):
        super().__init__(level, batch_size, seed, usable_device(device), *a, **kw)

    def __repr__(self) -> str:
        return (
            f"TrainingStream(level={self.level}, batch_size={self.batch_size}, seed={self.seed}, "
            f"split={self.split!r}, device={str(self.device)!r}, backend={self.backend!r})"
        )


class ClutteredOmniglot(Dataset):
    """Map-style dataset of one split and clutter level (random access, generated on demand).

    Items are dicts of tensors: ``scene`` uint8 [3,96,96], ``target`` uint8 [3,32,32], ``mask``
    bool [96,96], ``instance_map`` int16 [96,96], ``target_com`` int64 [2] and ``index``.
    ``transform`` (torchvision style) is applied to each item dict and returns the item to use,
    e.g. ``lambda item: {**item, "scene": item["scene"].float() / 255}``. ``__getitems__``
    generates a whole batch in one call when the DataLoader asks for one.
    """

    def __init__(
        self,
        split: str,
        level: int,
        *,
        omniglot: str | Path | None = None,
        version: int = 1,
        master_seed: int | None = None,
        glyphs=None,
        transform: Transform | None = None,
    ) -> None:
        self.split_name, self.level, self.version = split, level, version
        self.transform = transform
        self.omniglot, self.master_seed = omniglot, master_seed
        self._glyphs = glyphs
        self._split: Split | None = None
        self._length = len(self._open())  # validates split and level eagerly

    def _open(self) -> Split:
        if self._split is None:
            self._split = load_split(
                self.split_name,
                self.level,
                version=self.version,
                omniglot=self.omniglot,
                master_seed=self.master_seed,
                glyphs=self._glyphs,
            )
        return self._split

    def __getstate__(self) -> dict:
        # Workers reopen the split; without explicit glyphs they load the verified glyph cache.
        return {**self.__dict__, "_split": None}

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        private = ", private" if self.master_seed is not None else ""
        transform = f", transform={self.transform!r}" if self.transform is not None else ""
        return (
            f"ClutteredOmniglot(split={self.split_name!r}, level={self.level}, "
            f"version={self.version}, samples={self._length}{private}{transform})"
        )

    def __getitem__(self, index: int) -> Item:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Item]:
        samples = self._open().get(list(indices), workers=1)
        scene = torch.from_numpy(samples.scene).permute(0, 3, 1, 2)
        target = torch.from_numpy(samples.target).permute(0, 3, 1, 2)
        mask = torch.from_numpy(samples.mask)
        instance_map = torch.from_numpy(samples.instance_map)
        com = torch.from_numpy(samples.target_com)
        items = [
            {
                "index": int(samples.index[i]),
                "scene": scene[i],
                "target": target[i],
                "mask": mask[i],
                "instance_map": instance_map[i],
                "target_com": com[i],
            }
            for i in range(len(samples))
        ]
        return items if self.transform is None else [self.transform(item) for item in items]


class TrainingStreamDataset(IterableDataset):
    """Batches ``start..stop-1`` of a :class:`TrainingStream`; use with ``batch_size=None``.

    With k workers, worker w yields steps w, w+k, w+2k, ...: each step exactly once, and the
    same bytes whatever the number of workers. Batches are generated on the CPU kernel backend
    in the workers. ``transform`` is applied to each batch dict.
    """

    def __init__(
        self,
        level: int,
        batch_size: int = 250,
        seed: int = 0,
        *,
        start: int = 0,
        stop: int | None = None,
        omniglot=None,
        split: str = "train",
        glyphs=None,
        transform: Transform | None = None,
    ) -> None:
        self.level, self.batch_size, self.seed = level, batch_size, seed
        self.transform = transform
        self.start, self.stop = start, stop
        self.omniglot, self.split, self.glyphs = omniglot, split, glyphs

    def __repr__(self) -> str:
        return (
            f"TrainingStreamDataset(level={self.level}, batch_size={self.batch_size}, "
            f"seed={self.seed}, split={self.split!r}, steps={self.start}..{self.stop})"
        )

    def __iter__(self) -> Iterator[Item]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        source = TrainingStream(
            self.level,
            self.batch_size,
            self.seed,
            "cpu",
            self.omniglot,
            split=self.split,
            glyphs=self.glyphs,
            backend="kernel",
        )
        step = self.start + worker
        while self.stop is None or step < self.stop:
            batch = {"step": torch.tensor(step), **source.batch(step)}
            yield batch if self.transform is None else self.transform(batch)
            step += workers
