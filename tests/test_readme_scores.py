"""The README's score tables, cell by cell, against the committed records they quote.

A score typed into the README goes stale the day its record is replaced or re-scored; this makes
that a red CI. Each quoted record is named by its path under ``results/``, so moving a replaced
record to ``results/superseded/`` also fails here until the README quotes the new one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from oneshotbench.leaderboard import ci_cell
from oneshotbench.published import LEVELS, PUBLISHED

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _standing(row: str, suffix: str = "") -> tuple[str, ...]:
    """The records of the discriminator runs that stand for the cells, levels 4 to 256."""
    runs = {
        "presegmented": ("L4_continued", "L8", "L16_continued_2", "L32_continued_long",
                         "L64_long", "L128_from_256", "L256_long"),
        "cluttered": ("L4", "L8", "L16", "L32_continued", "L64_long", "L128_long_2", "L256_long_2"),
    }  # fmt: skip
    folder = "v0/" if suffix else ""
    return tuple(f"{folder}oracle_{row}_{run}{suffix}.json" for run in runs[row])


TABLES: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    # header cell: [(row label, metric, the records it quotes or ("paper", published model))]
    "model": [
        ("all background, IoU = localization", "iou", ("all_background.json",)),
        ("chance, IoU", "iou", ("chance.json",)),
        ("chance, localization", "loc", ("chance.json",)),
        ("all lit (every non-black pixel), IoU", "iou", ("all_lit.json",)),
        ("all lit, localization", "loc", ("all_lit.json",)),
        ("random visible glyph (oracle), localization", "loc", ("oracle_random_glyph.json",)),
    ],
    "test-one-shot IoU, %": [
        ("template matching (ours, oracle, 10,000 per level)", "iou", ("template_matching.json",)),
        ("the same on the pre-fix data (v0, 10,000 per level)", "iou",
         ("v0/template_matching_v0.json",)),
        ("template matching, raw correlation (ours, oracle, 1,000 per level)", "iou",
         ("template_matching_raw.json",)),
        ("paper: pattern matching", "iou", ("paper", "pattern matching")),
    ],
    "Siamese U-Net, test-one-shot IoU, %": [
        ("Siamese U-Net, ours (CPU, 2,200 steps, 200-step warm-ups)", "iou",
         ("siamese_unet_L4_warmup_continued.json",)),
        ("the same model on the pre-fix data (v0)", "iou",
         ("v0/siamese_unet_L4_warmup_continued_v0.json",)),
        ("its first 1,200 steps (from scratch, 200-step warm-up)", "iou",
         ("superseded/siamese_unet_L4_warmup.json",)),
        ("the same, on the pre-fix data (v0)", "iou",
         ("superseded/siamese_unet_L4_warmup_v0.json",)),
        ("the paper's recipe, no warm-up (blind to its target)", "iou",
         ("superseded/siamese_unet_L4.json",)),
        ("the same, on the pre-fix data (v0)", "iou", ("superseded/siamese_unet_L4_v0.json",)),
        ("paper: Siamese U-Net", "iou", ("paper", "siamese u-net")),
        ("all lit (every non-black pixel)", "iou", ("all_lit.json",)),
        ("all lit on the pre-fix data (v0)", "iou", ("v0/all_lit_v0.json",)),
        ("chance", "iou", ("chance.json",)),
    ],
    "test-one-shot, 10,000 samples per level, localization, %": [
        ("pre-segmented discriminator, ours (CPU, short schedules; IoU at most 0.1 lower)", "loc",
         _standing("presegmented")),
        ("the same models on the pre-fix data (v0)", "loc", _standing("presegmented", "_v0")),
        ("paper", "loc", ("paper", "p-seg. discriminator")),
        ("cluttered discriminator, ours (CPU, short schedules)", "loc", _standing("cluttered")),
        ("the same models on the pre-fix data (v0)", "loc", _standing("cluttered", "_v0")),
        ("paper", "loc", ("paper", "clutt. discriminator")),
        ("template-matching oracle (no training, pre-segmented glyphs)", "loc",
         ("template_matching.json",)),
        ("random visible glyph (oracle floor)", "loc", ("oracle_random_glyph.json",)),
    ],
}  # fmt: skip


def readme_tables() -> dict[str, tuple[list[int], list[list[str]]]]:
    """Each Markdown table of the README by its first header cell: its levels and its rows."""
    tables: dict[str, tuple[list[int], list[list[str]]]] = {}
    block: list[list[str]] = []
    for line in [*(ROOT / "README.md").read_text().splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if block and block[0][0] in TABLES:
            levels = [int(re.search(r"\d+", cell).group()) for cell in block[0][1:]]
            tables[block[0][0]] = (levels, block[2:])
        block = []
    return tables


Quote = tuple[float, tuple[float, float] | None]


def quoted(metric: str, sources: tuple[str, ...]) -> dict[int, Quote]:
    """Score and 95 % interval per level of the records (or the paper's row) a README row quotes."""
    if sources[0] == "paper":
        row = next(r for r in PUBLISHED if (r.model, r.metric) == (sources[1], metric))
        return {
            level: (v, None) for level, v in zip(LEVELS, row.values, strict=True) if v is not None
        }
    scores = {}
    for name in sources:
        for entry in json.loads((RESULTS / name).read_text())["levels"]:
            scores[entry["level"]] = (entry[metric], tuple(entry[f"{metric}_ci"]))
    return scores


def cell_text(score: float, ci: tuple[float, float] | None, like: str) -> str:
    """``score`` written as ``like`` is: the leaderboard's ``62.2 ± 1.3`` where ``like`` has a ±,
    else the score alone with ``like``'s decimals."""
    if " ± " in like and ci is not None:
        return ci_cell(score, ci)
    return f"{score:.{len(like.partition('.')[2])}f}"


@pytest.mark.parametrize("header", sorted(TABLES))
def test_every_quoted_score_matches_its_record(header: str) -> None:
    tables = readme_tables()
    assert header in tables, f"README has no table headed {header!r}"
    levels, rows = tables[header]
    assert [row[0] for row in rows] == [label for label, _, _ in TABLES[header]]
    for row, (label, metric, sources) in zip(rows, TABLES[header], strict=True):
        scores = quoted(metric, sources)
        assert set(levels) <= set(scores), f"{label!r}: its sources hold levels {sorted(scores)}"
        for level, written in zip(levels, row[1:], strict=True):
            expected = cell_text(*scores[level], like=written)
            assert written == expected, (
                f"{label!r}, level {level}: README {written}, records {expected}"
            )


def test_the_presegmented_rows_iou_is_at_most_a_tenth_below_localization() -> None:
    """The README's label for the pre-segmented row: "IoU at most 0.1 lower"."""
    for suffix in ("", "_v0"):
        iou = quoted("iou", _standing("presegmented", suffix))
        loc = quoted("loc", _standing("presegmented", suffix))
        assert all(0 <= loc[level][0] - iou[level][0] <= 0.1 for level in loc)
