"""Leaderboard: rank records of the same data by mean IoU and test differences from the leader.

Only records that scored exactly the same samples are ranked together (same dataset, split,
fingerprints, levels, sample counts, metric specs and threshold); a mismatch is refused with a
message naming the records and fields. Each model is compared with the leader by a paired
bootstrap over its per-sample IoU, matched by (level, sample index).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from oneshotbench.errors import OneshotbenchError
from oneshotbench.metrics import PerSampleScores
from oneshotbench.records import check_comparable
from oneshotbench.reports import markdown_table, model_labels, write_files
from oneshotbench.stats import paired_bootstrap_pvalue

ALPHA = 0.05


@dataclass(frozen=True)
class Entry:
    """One leaderboard row; scores in %, ``delta`` in percentage points of mean IoU."""

    rank: int
    model: str
    source: str
    oracle: bool
    mean_iou: float
    level_iou: dict[int, float]
    delta: float | None  # None for the leader
    p_value: float | None
    significant: bool | None


def _paired_iou(source: str, per_sample: dict[int, PerSampleScores], reference) -> np.ndarray:
    """Per-sample IoU over all levels in (level, index) order, checked against ``reference``."""
    ref_source, ref_scores = reference
    for level, scores in per_sample.items():
        if not np.array_equal(scores.index, ref_scores[level].index):
            raise OneshotbenchError(
                f"cannot rank records that scored different samples: level {level} of {source} "
                f"and of {ref_source} hold different sample indices"
            )
    return np.concatenate([per_sample[level].iou for level in sorted(per_sample)])


def rank_records(
    records: list[tuple[str, dict, dict[int, PerSampleScores]]],
    *,
    seed: int = 0,
    n_resamples: int = 10_000,
    alpha: float = ALPHA,
) -> list[Entry]:
    """Rank ``(source, record, per-sample scores)`` triples by mean IoU over levels (best first).

    Equal means share a rank. For every other model, the two-sided paired bootstrap p-value of
    its per-sample IoU against the leader's is computed; ``significant`` is ``p < alpha``.
    """
    if not records:
        raise OneshotbenchError("no result records to rank")
    check_comparable([(src, rec) for src, rec, _ in records], same_levels=True, purpose="rank")
    labels = model_labels([rec for _, rec, _ in records])
    means = [float(np.mean([lv["iou"] for lv in rec["levels"]])) for _, rec, _ in records]
    order = sorted(range(len(records)), key=lambda i: (-means[i], labels[i]))
    leader = order[0]
    reference = (records[leader][0], records[leader][2])
    leader_iou = _paired_iou(records[leader][0], records[leader][2], reference)
    entries = []
    for position, i in enumerate(order):
        source, record, per_sample = records[i]
        rank = position + 1
        if position and means[i] == entries[-1].mean_iou:
            rank = entries[-1].rank
        p_value = None
        if i != leader:
            iou = _paired_iou(source, per_sample, reference)
            p_value = paired_bootstrap_pvalue(iou, leader_iou, seed, n_resamples)
        entries.append(
            Entry(
                rank=rank,
                model=labels[i],
                source=source,
                oracle=bool(record.get("oracle")),
                mean_iou=means[i],
                level_iou={int(lv["level"]): lv["iou"] for lv in record["levels"]},
                delta=None if i == leader else means[i] - means[leader],
                p_value=p_value,
                significant=None if p_value is None else p_value < alpha,
            )
        )
    return entries


def leaderboard_frame(entries: list[Entry]) -> pd.DataFrame:
    """Numeric leaderboard: rank, model, oracle, mean IoU, IoU per level, Δ, p, significant."""
    levels = sorted({level for e in entries for level in e.level_iou})
    rows = [
        {
            "rank": e.rank,
            "model": e.model,
            "oracle": e.oracle,
            "mean_iou": e.mean_iou,
            **{f"iou_{level}": e.level_iou.get(level, np.nan) for level in levels},
            "delta": e.delta,
            "p_value": e.p_value,
            "significant": e.significant,
        }
        for e in entries
    ]
    return pd.DataFrame(rows)


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def leaderboard_markdown(entries: list[Entry]) -> str:
    """The leaderboard as a Markdown table (p-values below 1e-3 shown as ``<0.001``)."""
    levels = sorted({level for e in entries for level in e.level_iou})
    rows = [
        [
            e.model,
            "yes" if e.oracle else "",
            f"{e.mean_iou:.1f}",
            *[_fmt(e.level_iou.get(level), ".1f") for level in levels],
            _fmt(e.delta, "+.1f"),
            "–" if e.p_value is None else ("<0.001" if e.p_value < 1e-3 else f"{e.p_value:.3f}"),
            {None: "", True: "yes", False: "no"}[e.significant],
        ]
        for e in entries
    ]
    columns = ["model", "oracle", "mean IoU", *[f"IoU {lv}" for lv in levels], "Δ", "p", "sig."]
    cells = pd.DataFrame(rows, index=[str(e.rank) for e in entries], columns=columns)
    return markdown_table(cells, corner="rank")


def leaderboard_csv(entries: list[Entry]) -> str:
    """The leaderboard as CSV with full-precision numbers."""
    return leaderboard_frame(entries).to_csv(index=False, float_format="%.6g")


def write_leaderboard(entries: list[Entry], out_dir: Path) -> list[Path]:
    """Write ``leaderboard.md`` and ``leaderboard.csv`` into ``out_dir``."""
    files = {
        "leaderboard.md": leaderboard_markdown(entries),
        "leaderboard.csv": leaderboard_csv(entries),
    }
    return write_files({name: text.encode("utf-8") for name, text in files.items()}, out_dir)
