"""Model rows of reports and leaderboards: which records form one row, and how a row is flagged.

A model is often evaluated one level at a time (one checkpoint per clutter level, as in the
paper), so records that share a submission name and oracle flag and cover disjoint levels are
one model and form one row. Flags say why a row may not be a fair entry: it read ground truth
(oracle), ran without a sandbox, or changed its answers with batch size and order (invariance).
Records are read with the defaults of schema v1 (no ``sandbox`` key: not sandboxed).
"""

from __future__ import annotations

import copy

import numpy as np

FLAGS = ("oracle", "unsandboxed", "invariance")
FLAG_TEXT = {
    "oracle": "oracle: reads ground truth",
    "unsandboxed": "unsandboxed: ran without an isolating sandbox",
    "invariance": "invariance: answers depend on batch size or order",
}


def submission_name(record: dict) -> str:
    """The submission's name (schema v2), else its file's stem (v1 records)."""
    submission = record.get("submission", {})
    name = submission.get("name")
    if name:
        return str(name)
    return str(submission.get("file", "?")).rsplit(".", 1)[0]


def record_flags(record: dict) -> tuple[str, ...]:
    """Which of :data:`FLAGS` apply to ``record`` (in that order)."""
    flags = []
    if record.get("oracle"):
        flags.append("oracle")
    if record.get("sandbox", "none") in (None, "none"):
        flags.append("unsandboxed")
    if (record.get("invariance") or {}).get("flagged"):
        flags.append("invariance")
    return tuple(flags)


def _levels(record: dict) -> set[int]:
    return {int(entry["level"]) for entry in record["levels"]}


def group_records(records: list[dict]) -> list[list[int]]:
    """Indices of the records forming each row, rows in order of first appearance.

    A record joins an earlier row with its name and oracle flag when its levels are disjoint
    from the row's; otherwise it starts a row of its own.
    """
    groups: list[list[int]] = []
    covered: list[set[int]] = []
    for i, record in enumerate(records):
        key = (submission_name(record), bool(record.get("oracle")))
        for group, levels in zip(groups, covered, strict=True):
            first = records[group[0]]
            same = (submission_name(first), bool(first.get("oracle"))) == key
            if same and not levels & _levels(record):
                group.append(i)
                levels |= _levels(record)
                break
        else:
            groups.append([i])
            covered.append(_levels(record))
    return groups


def merge_records(records: list[dict]) -> dict:
    """One record of a row: the first record with every record's levels and fingerprints.

    Flags of the parts are combined (any oracle, any unsandboxed, any invariance verdict).
    """
    if len(records) == 1:
        return records[0]
    merged = copy.deepcopy(records[0])
    levels = sorted(
        (entry for record in records for entry in record["levels"]),
        key=lambda e: int(e["level"]),
    )
    merged["levels"] = levels
    merged["mean_iou"] = float(np.mean([entry["iou"] for entry in levels]))
    data = merged.setdefault("dataset", {})
    data["levels"] = [int(entry["level"]) for entry in levels]
    data["fingerprints"] = {
        str(k): v
        for record in records
        for k, v in record.get("dataset", {}).get("fingerprints", {}).items()
    }
    flags = {flag for record in records for flag in record_flags(record)}
    merged["oracle"] = "oracle" in flags
    if "unsandboxed" in flags:
        merged["sandbox"] = "none"
    if "invariance" in flags:
        merged["invariance"] = {**(merged.get("invariance") or {}), "flagged": True}
    merged["parts"] = [copy.deepcopy(record) for record in records]
    return merged


def merge_rows(records: list[dict]) -> list[dict]:
    """Records as rows: each group of :func:`group_records` merged into one record."""
    return [merge_records([records[i] for i in group]) for group in group_records(records)]
