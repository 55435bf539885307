"""The paper's published Tables 1 and 2 (Michaelis, Bethge & Ecker, ICML 2018), as data.

Reports can set these rows beside measured ones (``oneshotbench report --paper``) so a
reproduction is read against the numbers it reproduces. All are test-one-shot figures in %, on
the original (pre-September-2018) data; "-" cells of the paper are ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

LEVELS = (4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class PublishedRow:
    """One model's row of one table: a score per clutter level of :data:`LEVELS`."""

    model: str
    metric: str  # "iou" (Table 1) or "loc" (Table 2), as in the records
    oracle: bool
    values: tuple[float | None, ...]


PUBLISHED = (
    PublishedRow("pattern matching", "iou", True, (62.2, 50.4, 41.7, 36.9, 32.6, 29.0, 28.6)),
    PublishedRow("p-seg. discriminator", "iou", True, (99.6, 99.2, 98.9, 98.2, 97.8, 96.9, 96.2)),
    PublishedRow("best seg. proposal", "iou", True, (98.9, 96.8, 90.5, 80.9, 68.7, 60.5, 58.2)),
    PublishedRow("siamese u-net", "iou", False, (97.1, 92.1, 79.8, 62.4, 48.1, 39.3, 38.4)),
    PublishedRow("masknet", "iou", False, (95.8, 90.5, 79.3, 65.6, 52.8, 44.8, 43.7)),
    PublishedRow("masknet untargeted", "iou", False, (None, None, None, 52.7, 39.0, 30.7, 27.3)),
    PublishedRow("p-seg. discriminator", "loc", True, (99.6, 99.2, 98.9, 98.2, 97.8, 96.9, 96.2)),
    PublishedRow("clutt. discriminator", "loc", True, (97.0, 92.1, 82.2, 67.1, 54.7, 44.2, 41.3)),
    PublishedRow("masknet", "loc", False, (97.4, 94.1, 87.0, 77.5, 66.1, 58.5, 57.7)),
)


def published_frame(levels: tuple[int, ...] = LEVELS) -> pd.DataFrame:
    """The published cells at ``levels`` in the tidy layout of ``reports.scores_frame``.

    Models are labelled ``paper: <model>``; the paper gives no intervals, so CIs are NaN.
    """
    rows = [
        {
            "model": f"paper: {row.model}",
            "oracle": row.oracle,
            "level": level,
            "metric": row.metric,
            "value": value,
            "ci_low": float("nan"),
            "ci_high": float("nan"),
        }
        for row in PUBLISHED
        for level, value in zip(LEVELS, row.values, strict=True)
        if level in levels and value is not None
    ]
    return pd.DataFrame(rows)
