"""What a sample carries: scene, target, mask, instance map, per-glyph table, centres of mass."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from oneshotbench.generator.spec import (
    T_B,
    T_CHAR,
    T_DRAWER,
    T_G,
    T_H,
    T_R,
    T_SUM_X,
    T_SUM_Y,
    T_VISIBLE,
    T_W,
    T_X,
    T_Y,
)

INSTANCE_COLUMNS = (
    "sample", "k", "char", "alphabet", "drawer", "r", "g", "b",
    "x", "y", "width", "height", "visible", "com_x", "com_y",
)  # fmt: skip

_NUDGE = np.float32(1e-5)


def paper_center(coordinate_sum: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Centre of mass floored exactly as the paper's TensorFlow code does it, in float32.

    ``floor((sum + 1e-5) / (count - 1e-5))`` with every operation rounded to float32; an empty
    mask (count 0) gives -1.
    """
    total = np.asarray(coordinate_sum).astype(np.float32) + _NUDGE
    pixels = np.asarray(count).astype(np.float32) - _NUDGE
    return np.floor(total / pixels).astype(np.int64)


@dataclass
class Samples:
    """A batch of samples of one split and level, in the order they were requested."""

    index: np.ndarray  # int64 [N], indices within the split
    scene: np.ndarray  # uint8 [N, 96, 96, 3]
    target: np.ndarray  # uint8 [N, 32, 32, 3]
    mask: np.ndarray  # bool [N, 96, 96]
    instance_map: np.ndarray  # int16 [N, 96, 96]: 0 background, k = k-th pasted glyph (1-based)
    table: np.ndarray  # int32 [N, level, fields]: the kernel's per-glyph table
    alphabets: tuple[str, ...]  # alphabet names, indexed by char_alphabet
    char_alphabet: np.ndarray  # int16 [n_chars]

    def __len__(self) -> int:
        return len(self.index)

    @cached_property
    def target_com(self) -> np.ndarray:
        """int64 [N, 2]: the mask's (x, y) centre floored as the paper does; (-1, -1) if empty."""
        target_row = self.table[:, -1]  # the scene target is pasted last and never occluded
        count = target_row[:, T_VISIBLE]
        return np.stack(
            [
                paper_center(target_row[:, T_SUM_X], count),
                paper_center(target_row[:, T_SUM_Y], count),
            ],
            axis=1,
        )

    def instance_columns(self) -> dict[str, np.ndarray]:
        """The instance table as columns: ``alphabet`` holds indices into ``self.alphabets``."""
        n, level, _ = self.table.shape
        rows = self.table.reshape(n * level, -1).astype(np.int64)
        # Only pasted glyphs: version 0 leaves the rows of distractors it never drew empty.
        pasted = rows[:, T_DRAWER] > 0
        rows = rows[pasted]
        visible = rows[:, T_VISIBLE]
        columns = {
            "sample": np.repeat(self.index, level)[pasted],
            "k": np.tile(np.arange(1, level + 1), n)[pasted],
            "char": rows[:, T_CHAR],
            "alphabet": self.char_alphabet[rows[:, T_CHAR]].astype(np.int64),
            "drawer": rows[:, T_DRAWER],
            "r": rows[:, T_R],
            "g": rows[:, T_G],
            "b": rows[:, T_B],
            "x": rows[:, T_X],
            "y": rows[:, T_Y],
            "width": rows[:, T_W],
            "height": rows[:, T_H],
            "visible": visible,
            "com_x": paper_center(rows[:, T_SUM_X], visible),
            "com_y": paper_center(rows[:, T_SUM_Y], visible),
        }
        return columns

    @cached_property
    def instances(self) -> pd.DataFrame:
        """One row per pasted glyph (paste order, the scene target last; ``k`` its label)."""
        import pandas as pd  # imported on demand: most consumers need only the arrays

        columns = self.instance_columns()
        columns["alphabet"] = np.asarray(self.alphabets, dtype=object)[columns["alphabet"]]
        return pd.DataFrame(columns)

    def instances_of(self, position: int) -> pd.DataFrame:
        """The instance rows of the ``position``-th sample of this batch (without ``sample``)."""
        pasted = self.table[:, :, T_DRAWER] > 0
        start = int(pasted[:position].sum())
        rows = self.instances.iloc[start : start + int(pasted[position].sum())]
        return rows.drop(columns="sample").reset_index(drop=True)
