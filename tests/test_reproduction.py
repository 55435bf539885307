"""The cell-by-cell reproduction table: which record stands for a cell, and the committed file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from oneshotbench import catalog
from oneshotbench.catalog import Checkpoint, Score
from oneshotbench.cli.main import app
from oneshotbench.reproduction import (
    TOLERANCE,
    reproduction_cells,
    reproduction_markdown,
    training_runs,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def record(file: str, level: int, n: int, iou: float, **dataset) -> dict:
    return {
        "created": "2026-11-30T00:00:00+00:00",
        "submission": {"file": file},
        "dataset": {"name": "cluttered-omniglot", "version": 1, "split": "test-one-shot",
                    "private": False, **dataset},
        "levels": [{"level": level, "n": n, "iou": iou, "iou_ci": [iou - 1, iou + 1],
                    "loc": iou, "loc_ci": [iou - 2, iou + 2]}],
    }  # fmt: skip


def checkpoint(
    size: str, source: str, level: int, warm_start: str | None = None, committed: bool = True
) -> Checkpoint:
    score = Score(source, level, 0.0, (0.0, 0.0), 1, "sha256")
    return Checkpoint(Path(f"ck-{size}/checkpoint.safetensors"), "siamese_unet", size, level,
                      100, 1, 1, "0123456789ab" + "0" * 52, [score], batch_size=250,
                      warm_start=warm_start, committed=committed)  # fmt: skip


def cell(cells, table: int, model: str, level: int):
    return next(c for c in cells if (c.table, c.model, c.level) == (table, model, level))


def test_sixty_cells_in_paper_order() -> None:
    cells = reproduction_cells([], [])
    assert len(cells) == 60 and all(c.ours is None for c in cells)
    assert [c.level for c in cells if c.model == "masknet untargeted"] == [32, 64, 128, 256]
    assert len([c for c in cells if c.table == 2]) == 21


def test_the_largest_eligible_record_stands_for_a_cell() -> None:
    records = [
        ("a.json", record("siamese_unet.py", 4, 1000, 90.0)),
        ("b.json", record("siamese_unet.py", 4, 10_000, 95.0)),
        ("c.json", record("siamese_unet.py", 4, 20_000, 10.0, split="val-one-shot")),
        ("d.json", record("siamese_unet.py", 4, 20_000, 11.0, private=True)),
        ("e.json", record("siamese_unet.py", 4, 20_000, 12.0, version=0)),
        ("f.json", record("siamese_unet_v2.py", 4, 20_000, 13.0)),
    ]
    chosen = cell(reproduction_cells(records, []), 1, "siamese u-net", 4)
    assert (chosen.record, chosen.ours, chosen.n, chosen.half_ci) == ("b.json", 95.0, 10_000, 1.0)
    assert chosen.difference == 95.0 - 97.1 and chosen.reproduced == (abs(95.0 - 97.1) <= TOLERANCE)
    masknet = cell(reproduction_cells([("m.json", record("masknet.py", 8, 10, 80.0))], []), 2,
                   "masknet", 8)  # fmt: skip
    assert masknet.ours == 80.0 and masknet.half_ci == 2.0  # Table 2 reads the localisation


def test_a_score_on_the_pre_fix_data_can_explain_a_gap() -> None:
    records = [("v1.json", record("masknet.py", 256, 10_000, 35.0)),
               ("v0.json", record("masknet.py", 256, 10_000, 42.0, version=0))]  # fmt: skip
    chosen = cell(reproduction_cells(records, []), 1, "masknet", 256)  # the paper: 43.7
    assert chosen.record == "v1.json" and chosen.pre_fix == 42.0
    assert not chosen.reproduced and chosen.explained_by_data
    text = reproduction_markdown(reproduction_cells(records, []))
    assert "43.7 · 35.0 ± 1.0 (-8.7) (a); v0 42.0" in text and "1 explained by the data" in text
    only_v0 = cell(reproduction_cells(records[1:], []), 1, "masknet", 256)
    assert only_v0.ours is None  # the pre-fix score alone never stands for a cell
    far = [records[0], ("v0.json", record("masknet.py", 256, 10_000, 38.0, version=0))]
    text = reproduction_markdown(reproduction_cells(far, []))
    assert "(-8.7); v0 38.0" in text and "0 explained by the data" in text
    assert "2 not explained yet" in text  # both tables; no note explains MaskNet


def test_only_the_same_weights_on_the_pre_fix_data_can_explain_a_gap() -> None:
    def scored(name: str, source: str, sha: str) -> Checkpoint:
        score = Score(source, 256, 0.0, (0.0, 0.0), 1, "sha256")
        return Checkpoint(Path(f"{name}/checkpoint.safetensors"), "masknet", "paper", 256, 100,
                          1, 1, sha * 64, [score], batch_size=250)  # fmt: skip

    newer = {"created": "2026-12-01T00:00:00+00:00"}
    records = [
        ("v1.json", record("masknet.py", 256, 10_000, 35.0)),
        ("v0-same.json", record("masknet.py", 256, 10_000, 38.0, version=0)),
        ("v0-other.json", {**record("masknet.py", 256, 10_000, 42.0, version=0), **newer}),
        ("v0-none.json", {**record("masknet.py", 256, 20_000, 43.0, version=0), **newer}),
    ]
    checkpoints = [scored("a", "v1.json", "a"), scored("a-copy", "v0-same.json", "a"),
                   scored("b", "v0-other.json", "b")]  # fmt: skip
    chosen = cell(reproduction_cells(records, checkpoints), 1, "masknet", 256)
    assert chosen.pre_fix == 38.0 and not chosen.explained_by_data  # not b's 42.0, nor 43.0
    others = records[:1] + records[2:]
    assert cell(reproduction_cells(others, checkpoints), 1, "masknet", 256).pre_fix is None
    no_checkpoint = cell(reproduction_cells(records, []), 1, "masknet", 256)
    assert no_checkpoint.pre_fix == 43.0  # no training: any v0 record of the submission


def test_records_of_a_cpu_demo_network_do_not_count() -> None:
    records = [("tiny.json", record("siamese_unet.py", 4, 10_000, 24.0)),
               ("paper.json", record("siamese_unet.py", 4, 1_000, 96.0))]  # fmt: skip
    checkpoints = [
        checkpoint("tiny", "tiny.json", 4),
        checkpoint("paper", "paper.json", 4, "ck-L8"),
    ]
    chosen = cell(reproduction_cells(records, checkpoints), 1, "siamese u-net", 4)
    assert chosen.record == "paper.json" and chosen.checkpoint.size == "paper"
    text = reproduction_markdown(reproduction_cells(records, checkpoints))
    assert "`ck-paper` (paper, 100 steps of 250, 0.03 M samples, warm-started from `ck-L8`)" in text
    continued = [replace(checkpoints[1], start_step=40)]
    text = reproduction_markdown(reproduction_cells(records[1:], continued))
    assert "0.03 M samples, continued from `ck-L8` at step 40)" in text
    assert "1 of 60 cells measured, 1 within" in text
    assert "weights not committed" not in text


def test_a_cell_whose_weights_were_left_out_names_their_hash() -> None:
    records = [("paper.json", record("siamese_unet.py", 4, 1_000, 96.0))]
    checkpoints = [checkpoint("paper", "paper.json", 4, committed=False)]
    text = reproduction_markdown(reproduction_cells(records, checkpoints))
    assert "0.03 M samples; weights not committed, SHA-256 0123456789ab…)" in text
    assert "1 of 60 cells measured, 1 within" in text  # the record counts all the same


def test_the_committed_reproduction_table_is_current() -> None:
    sources = catalog.record_paths(RESULTS, superseded=False)
    records = [(str(path), json.loads(path.read_text())) for path in sources]
    checkpoints = catalog.checkpoints(RESULTS)
    cells = reproduction_cells(records, checkpoints)
    committed = (RESULTS / "REPRODUCTION.md").read_text()
    assert committed == reproduction_markdown(cells, training_runs(cells, checkpoints)), (
        "results/REPRODUCTION.md is stale: run `oneshotbench reproduction results`"
    )


def test_the_command_writes_the_table_and_names_an_empty_folder(tmp_path: Path) -> None:
    import shutil

    from typer.testing import CliRunner

    from oneshotbench.cli.main import build_app

    for name in ("template_matching.json", "template_matching.samples.npz"):
        shutil.copy(RESULTS / name, tmp_path / name)
    app = build_app("reproduction")
    done = CliRunner().invoke(app, ["reproduction", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "7 of 60 cells measured" in done.output and "7 by a documented difference" in done.output
    assert "0 not explained yet" in " ".join(done.output.split())
    record = json.loads((RESULTS / "template_matching.json").read_text())
    ours = next(entry["iou"] for entry in record["levels"] if entry["level"] == 4)
    assert f"62.2 · {ours:.1f} ± " in (tmp_path / "REPRODUCTION.md").read_text()
    (tmp_path / "superseded").mkdir()  # records of replaced weights stand for no cell
    for name in ("oracle_presegmented_L16.json", "oracle_presegmented_L16.samples.npz"):
        shutil.copy(RESULTS / "superseded" / name, tmp_path / "superseded" / name)
    done = CliRunner().invoke(app, ["reproduction", str(tmp_path)])
    assert done.exit_code == 0 and "7 of 60 cells measured" in done.output, done.output
    assert len(catalog.record_paths(tmp_path)) == 2
    assert len(catalog.record_paths(tmp_path, superseded=False)) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    done = CliRunner().invoke(app, ["reproduction", str(empty)])
    assert done.exit_code != 0 and "no result records" in str(done.exception or done.output)


def test_the_committed_records_report_and_rank_together(tmp_path: Path) -> None:
    """The README's `report results/*.json --paper` and `leaderboard results/*.json --common`
    work on the committed folder: the pre-fix records live apart, in results/v0/."""
    paths = [str(p) for p in sorted(RESULTS.glob("*.json"))]
    pre_fix = catalog.record_paths(RESULTS, superseded=False)[len(paths) :]
    assert pre_fix and all(json.loads(p.read_text())["dataset"]["version"] == 0 for p in pre_fix)
    runner = CliRunner()
    ranked = runner.invoke(app, ["leaderboard", *paths, "--common", "--resamples", "200"])
    assert ranked.exit_code == 0, ranked.output
    assert "oracle_cluttered" in ranked.output and "template_matching" in ranked.output
    out = tmp_path / "report"
    reported = runner.invoke(app, ["report", *paths, "--paper", "--out", str(out)])
    assert reported.exit_code == 0, reported.output
    assert (out / "scores.png").stat().st_size > 0
