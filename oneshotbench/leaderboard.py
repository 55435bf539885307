"""Leaderboard: rank model rows by mean IoU over levels and test differences from the leader.

Rows (:mod:`oneshotbench.rows`) are ranked on exactly the same samples. By default every row
must cover the same levels and sample indices, and a mismatch is refused with one difference
per line; ``common=True`` instead ranks on the levels and sample indices that all rows share,
read from their per-sample files, and recomputes means, CIs and paired tests on those samples.
Dataset identity, fingerprints, metric specs and threshold must agree either way. Each row is
compared with the leader by a paired bootstrap over its per-sample IoU, matched by (level,
sample index).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd

from oneshotbench.errors import OneshotbenchError
from oneshotbench.metrics import PerSampleScores
from oneshotbench.records import record_differences
from oneshotbench.reports import dataset_title, markdown_table, model_labels, write_files
from oneshotbench.rows import group_records, merge_records, record_flags
from oneshotbench.stats import bootstrap_ci, paired_bootstrap_pvalue

ALPHA = 0.05

Loaded = tuple[str, dict, dict[int, PerSampleScores]]


@dataclass(frozen=True)
class Entry:
    """One leaderboard row; scores in %, ``delta`` in percentage points of mean IoU."""

    rank: int
    model: str
    source: str  # record path(s) the row was built from, joined by " + "
    record: dict  # the row's record (merged when several records form the row)
    flags: tuple[str, ...]  # of rows.FLAGS
    mean_iou: float
    level_iou: dict[int, float]
    level_ci: dict[int, tuple[float, float]]
    level_n: dict[int, int]
    delta: float | None  # None for the leader
    p_value: float | None
    significant: bool | None

    @property
    def oracle(self) -> bool:
        return "oracle" in self.flags


@dataclass(frozen=True)
class Leaderboard:
    """Ranked entries and what they were ranked on."""

    entries: list[Entry]
    title: str  # dataset, version, split
    metric: str  # e.g. "iou-paper v1, threshold 0.3"
    levels: tuple[int, ...]
    n: dict[int, int]  # samples per level that every row was scored on
    common: bool  # ranked on the shared samples only
    left_out: list[str]  # rows left out by strict, as "model (flags)"


def _merge_loaded(records: list[Loaded]) -> list[Loaded]:
    """Rows from records: same-name records with disjoint levels merged, side files too."""
    groups = group_records([rec for _, rec, _ in records])
    rows = []
    for group in groups:
        parts = [records[i] for i in group]
        per_sample = {lv: s for _, _, scores in parts for lv, s in scores.items()}
        source = " + ".join(src for src, _, _ in parts)
        rows.append((source, merge_records([rec for _, rec, _ in parts]), per_sample))
    return rows


def _refuse(lines: list[str], hint: str = "") -> None:
    body = "\n".join(f"  - {line}" for line in lines)
    raise OneshotbenchError(f"cannot rank records that differ:\n{body}{hint}")


def _check_identity(rows: list[Loaded]) -> None:
    """Dataset, fingerprints of shared levels, metric specs, threshold: never negotiable."""
    first_source, first, _ = rows[0]
    lines = [
        f"{field}: {first_source} has {a!r}, {source} has {b!r}"
        for source, record, _ in rows[1:]
        for field, a, b in record_differences(first, record, same_levels=False)
    ]
    if lines:
        _refuse(lines)


def _full_samples(rows: list[Loaded]) -> dict[int, np.ndarray]:
    """The samples of the first row, after checking every row scored exactly those."""
    first_source, _, first = rows[0]
    lines = []
    for source, _, per_sample in rows[1:]:
        if sorted(per_sample) != sorted(first):
            lines.append(
                f"levels: {first_source} has {sorted(first)}, {source} has {sorted(per_sample)}"
            )
            continue
        differing: dict[tuple[int, int], list[int]] = {}  # (n in first, n in this) -> levels
        for level in sorted(first):
            a, b = first[level].index, per_sample[level].index
            if not np.array_equal(a, b):
                differing.setdefault((len(a), len(b)), []).append(level)
        for (n_a, n_b), levels in differing.items():
            which = "level" if len(levels) == 1 else "levels"
            lines.append(
                f"samples at {which} {', '.join(map(str, levels))}: {first_source} has {n_a:,}, "
                f"{source} has {n_b:,}" + (" (different indices)" if n_a == n_b else "")
            )
    if lines:
        _refuse(lines, "\nrank them on the levels and samples they share with --common")
    return {level: scores.index for level, scores in first.items()}


def _common_samples(rows: list[Loaded]) -> dict[int, np.ndarray]:
    """Levels and sample indices that every row scored (levels with none in common dropped)."""
    levels = reduce(set.intersection, (set(per_sample) for _, _, per_sample in rows))
    shared = {
        level: reduce(np.intersect1d, [per_sample[level].index for _, _, per_sample in rows])
        for level in sorted(levels)
    }
    shared = {level: index for level, index in shared.items() if len(index)}
    if not shared:
        names = ", ".join(source for source, _, _ in rows)
        raise OneshotbenchError(f"the records share no scored sample (level and index): {names}")
    return shared


def _level_scores(record: dict, scores: PerSampleScores, index: np.ndarray, level: int):
    """Mean IoU (%) and its CI on ``index``: the record's own where it covers all its samples,
    else recomputed with the record's bootstrap seed and resample count."""
    if len(index) == len(scores):
        entry = next(e for e in record["levels"] if int(e["level"]) == level)
        return entry["iou"], tuple(entry["iou_ci"]), scores.iou
    iou = scores.iou[np.isin(scores.index, index)]
    boot = record.get("bootstrap", {})
    low, high = bootstrap_ci(iou, boot.get("seed", 0), boot.get("n_resamples", 10_000))
    return 100.0 * float(np.mean(iou)), (100.0 * low, 100.0 * high), iou


def _metric_title(record: dict) -> str:
    metrics = record.get("metrics", {})
    spec = metrics.get("iou") or {}
    name = f"{spec.get('name', 'iou')} v{spec.get('version', '?')}"
    return f"{name}, threshold {metrics.get('threshold')}"


def rank_records(
    records: list[Loaded],
    *,
    common: bool = False,
    strict: bool = False,
    seed: int = 0,
    n_resamples: int = 10_000,
    alpha: float = ALPHA,
) -> Leaderboard:
    """Rank ``(source, record, per-sample scores)`` triples by mean IoU over levels (best first).

    Equal means share a rank. ``strict`` leaves out flagged rows (oracle, unsandboxed,
    invariance). For every other row, the two-sided paired bootstrap p-value of its per-sample
    IoU against the leader's is computed; ``significant`` is ``p < alpha``.
    """
    if not records:
        raise OneshotbenchError("no result records to rank")
    rows = _merge_loaded(records)
    labels = model_labels([rec for _, rec, _ in rows])
    left_out = []
    if strict:
        kept = [i for i, (_, rec, _) in enumerate(rows) if not record_flags(rec)]
        left_out = [
            f"{labels[i]} ({', '.join(record_flags(rows[i][1]))})"
            for i in range(len(rows))
            if i not in kept
        ]
        if not kept:
            raise OneshotbenchError(
                "--strict leaves no record to rank: every one is flagged — " + "; ".join(left_out)
            )
        rows, labels = [rows[i] for i in kept], [labels[i] for i in kept]
    _check_identity(rows)
    samples = _common_samples(rows) if common else _full_samples(rows)
    scored = []
    for _, record, per_sample in rows:
        parts = {lv: _level_scores(record, per_sample[lv], idx, lv) for lv, idx in samples.items()}
        scored.append(parts)
    means = [float(np.mean([p[0] for p in parts.values()])) for parts in scored]
    paired = [np.concatenate([parts[lv][2] for lv in sorted(parts)]) for parts in scored]
    order = sorted(range(len(rows)), key=lambda i: (-means[i], labels[i]))
    leader = order[0]
    entries: list[Entry] = []
    for position, i in enumerate(order):
        source, record, _ = rows[i]
        rank = position + 1
        if position and means[i] == entries[-1].mean_iou:
            rank = entries[-1].rank
        p_value = None
        if i != leader:
            p_value = paired_bootstrap_pvalue(paired[i], paired[leader], seed, n_resamples)
        entries.append(
            Entry(
                rank=rank,
                model=labels[i],
                source=source,
                record=record,
                flags=record_flags(record),
                mean_iou=means[i],
                level_iou={lv: p[0] for lv, p in scored[i].items()},
                level_ci={lv: p[1] for lv, p in scored[i].items()},
                level_n={lv: len(idx) for lv, idx in samples.items()},
                delta=None if i == leader else means[i] - means[leader],
                p_value=p_value,
                significant=None if p_value is None else p_value < alpha,
            )
        )
    return Leaderboard(
        entries=entries,
        title=dataset_title(rows[0][1]),
        metric=_metric_title(rows[0][1]),
        levels=tuple(sorted(samples)),
        n={lv: len(idx) for lv, idx in samples.items()},
        common=common,
        left_out=left_out,
    )


def format_p(p: float | None) -> str:
    """p-values below 1e-3 as ``<0.001``; none (the leader) as an en dash."""
    return "–" if p is None else ("<0.001" if p < 1e-3 else f"{p:.3f}")


def format_n(n: dict[int, int]) -> str:
    """Samples per level: one number when all levels agree, else ``level: n`` pairs."""
    counts = set(n.values())
    if len(counts) == 1:
        return f"{counts.pop():,} per level"
    return ", ".join(f"{lv}: {count:,}" for lv, count in sorted(n.items()))


def board_header(board: Leaderboard) -> str:
    """What was ranked: dataset, version, split, metric, levels, n, and how."""
    levels = ", ".join(map(str, board.levels))
    scope = "samples shared by all records (--common)" if board.common else "all samples"
    return (
        f"{board.title} — metric {board.metric}; mean IoU (%) over levels {levels}; "
        f"n = {format_n(board.n)}, {scope}; ± half-width of the 95% bootstrap CI; "
        f"Δ and p: paired bootstrap against the leader (significant: p < {ALPHA})"
    )


def ci_cell(value: float, ci: tuple[float, float]) -> str:
    """``62.2 ± 1.3`` with ± half the interval's width."""
    return f"{value:.1f} ± {(ci[1] - ci[0]) / 2:.1f}"


def leaderboard_frame(board: Leaderboard) -> pd.DataFrame:
    """Numeric leaderboard: rank, model, flags, mean IoU, per level IoU, CI and n, Δ, p."""
    rows = [
        {
            "rank": e.rank,
            "model": e.model,
            "flags": " ".join(e.flags),
            "mean_iou": e.mean_iou,
            **{
                f"{key}_{lv}": value
                for lv in board.levels
                for key, value in (
                    ("iou", e.level_iou[lv]),
                    ("iou_ci_low", e.level_ci[lv][0]),
                    ("iou_ci_high", e.level_ci[lv][1]),
                    ("n", e.level_n[lv]),
                )
            },
            "delta": e.delta,
            "p_value": e.p_value,
            "significant": e.significant,
            "source": e.source,
        }
        for e in board.entries
    ]
    return pd.DataFrame(rows)


def leaderboard_cells(board: Leaderboard) -> pd.DataFrame:
    """Display strings, indexed by rank: model, flags, n, mean IoU, IoU ± CI per level, Δ, p."""
    rows = [
        [
            e.model,
            ", ".join(e.flags),
            format_n(e.level_n),
            f"{e.mean_iou:.1f}",
            *[ci_cell(e.level_iou[lv], e.level_ci[lv]) for lv in board.levels],
            "–" if e.delta is None else f"{e.delta:+.1f}",
            format_p(e.p_value),
            {None: "", True: "yes", False: "no"}[e.significant],
        ]
        for e in board.entries
    ]
    columns = ["model", "flags", "n", "mean IoU", *[f"IoU {lv}" for lv in board.levels]]
    columns += ["Δ", "p", "sig."]
    return pd.DataFrame(rows, index=[str(e.rank) for e in board.entries], columns=columns)


def leaderboard_markdown(board: Leaderboard) -> str:
    """The leaderboard as Markdown: a header naming what was ranked, then the table."""
    notes = ""
    if board.left_out:
        notes = f"\nLeft out by --strict: {'; '.join(board.left_out)}.\n"
    table = markdown_table(leaderboard_cells(board), corner="rank", left=("model", "flags", "n"))
    return f"### Leaderboard\n\n{board_header(board)}\n{notes}\n{table}"


def leaderboard_csv(board: Leaderboard) -> str:
    """The leaderboard as CSV with full-precision numbers."""
    return leaderboard_frame(board).to_csv(index=False, float_format="%.6g")


def write_leaderboard(board: Leaderboard, out_dir: Path) -> list[Path]:
    """Write ``leaderboard.md`` and ``leaderboard.csv`` into ``out_dir``."""
    files = {
        "leaderboard.md": leaderboard_markdown(board),
        "leaderboard.csv": leaderboard_csv(board),
    }
    return write_files({name: text.encode("utf-8") for name, text in files.items()}, out_dir)
