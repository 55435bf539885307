"""The runs section of the reproduction: every run's log, curve and scores, read, not typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from oneshotbench.catalog import Checkpoint, Score
from oneshotbench.errors import OneshotbenchError
from oneshotbench.reproduction import reproduction_cells, reproduction_markdown, training_runs
from oneshotbench.training_runs import METRICS_LOG, last_fifth_gain, read_log

HEADER = "step,split,loss,metric,metric_name,lr,samples_per_s,time\n"


def write_log(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METRICS_LOG).write_text(HEADER + "".join(row + "\n" for row in rows))
    return folder / METRICS_LOG


def test_the_last_fifth_is_measured_from_the_last_point_before_its_start() -> None:
    curve = [(200, 0.90), (400, 0.92), (600, 0.95), (800, 0.951)]
    gain, first, last = last_fifth_gain(curve, 0, 800)
    assert (first, last) == (600, 800) and gain == pytest.approx(0.1)
    # a continued run's fifth is of its own steps: 1,600 -> 2,000 of a run from step 800
    gain, first, last = last_fifth_gain([(1200, 0.936), (1600, 0.953), (2000, 0.956)], 800, 2000)
    assert (first, last) == (1600, 2000) and gain == pytest.approx(0.3)
    # validated only late: from its first point, and the steps say how short the span is
    assert last_fifth_gain([(3200, 0.19), (3600, 0.191)], 0, 3600)[1:] == (3200, 3600)
    assert last_fifth_gain([(800, 0.5)], 0, 800) is None


def test_a_log_gives_its_curve_learning_rates_speed_and_duration(tmp_path: Path) -> None:
    path = write_log(tmp_path, [
        "850,train,0.1,0.99,accuracy,0.000125,100.0,1000.0",
        "900,train,0.1,0.99,accuracy,0.0005,120.0,1100.0",
        "900,val-train,0.1,0.93,scene_accuracy,0.0005,,1160.0",
        "950,train,0.1,0.99,accuracy,6.25e-05,110.0,1220.0",
    ])  # fmt: skip
    log = read_log(path, start_step=800, batch_size=250)
    assert log.measure == "scene_accuracy" and log.val == ((900, 0.93),)
    assert (log.peak_lr, log.last_lr, log.samples_per_s) == (0.0005, 6.25e-05, 110.0)
    # 50 steps of 250 at 100 samples/s ran before the first record, 220 s after it
    assert log.minutes == pytest.approx((125 + 220) / 60)
    assert log.finished == 1220.0
    assert read_log(tmp_path / "missing.csv").val == ()


def test_a_broken_log_is_named(tmp_path: Path) -> None:
    path = write_log(tmp_path, ["900,train,0.1,0.99,accuracy,not-a-rate,120.0,1100.0"])
    with pytest.raises(OneshotbenchError, match=f"cannot read training log {path}"):
        read_log(path)


def record(file: str, level: int, value: float, version: int = 1) -> dict:
    return {
        "created": "2026-11-30T00:00:00+00:00",
        "submission": {"file": file},
        "dataset": {"name": "cluttered-omniglot", "version": version, "split": "test-one-shot",
                    "private": False},
        "levels": [{"level": level, "n": 10_000, "iou": value - 5, "iou_ci": [0, 100],
                    "loc": value, "loc_ci": [value - 1, value + 1]}],
    }  # fmt: skip


def checkpoint(folder: Path, source: str, pre_fix: str, digest: str, **kw) -> Checkpoint:
    scores = [
        Score(source, 128, 0.0, (0.0, 0.0), 10_000, "sha256", 20.0, "test-one-shot", 1),
        Score(pre_fix, 128, 0.0, (0.0, 0.0), 10_000, "sha256", 38.0, "test-one-shot", 0),
    ]
    return Checkpoint(folder / "checkpoint.safetensors", "cluttered_discriminator", "paper", 128,
                      kw.pop("step"), 1, 1, digest * 64, scores, batch_size=250, **kw)  # fmt: skip


def test_every_run_of_a_row_is_listed_and_the_standing_one_marked(tmp_path: Path) -> None:
    first, later = tmp_path / "clutt-L128", tmp_path / "clutt-L128-continued"
    write_log(first, ["800,val-train,0.1,0.64,accuracy,6.25e-05,,10.0"])
    write_log(later, [
        "1650,train,0.1,0.9,accuracy,0.00025,150.0,100.0",
        "2000,val-train,0.1,0.179,scene_accuracy,0.00025,,200.0",
        "2800,val-train,0.1,0.187,scene_accuracy,6.25e-05,,300.0",
    ])  # fmt: skip
    checkpoints = [
        checkpoint(first, "old.json", "old_v0.json", "a", step=800, committed=False),
        checkpoint(later, "new.json", "new_v0.json", "b", step=2800, start_step=1600,
                   warm_start="clutt-L128"),
    ]  # fmt: skip
    # the replaced run's records are in superseded/: they link to its weights, stand for nothing
    records = [("new.json", record("oracle_cluttered.py", 128, 20.0)),
               ("new_v0.json", record("oracle_cluttered.py", 128, 38.0, version=0))]  # fmt: skip
    cells = reproduction_cells(records, checkpoints)
    runs = training_runs(cells, checkpoints)
    assert [(run.name, run.stands, run.metric) for run in runs] == [
        ("clutt-L128", False, "loc"),
        ("clutt-L128-continued", True, "loc"),
    ]
    text = reproduction_markdown(cells, runs)
    assert "### clutt. discriminator (Table 2, localization accuracy)" in text
    line = next(line for line in text.splitlines() if line.startswith("| `clutt-L128-continued`"))
    assert line.split(" | ")[1:] == [
        "128", "continued from `clutt-L128` at step 1,600", "1,600 → 2,800",
        "2.50e-04 → 2.50e-04", "150", "5", "17.9 → 18.7 (scene, 2)", "+0.8 (2,000 → 2,800)",
        "20.0", "38.0", "in the tree |",
    ]  # fmt: skip
    assert "| `clutt-L128` | 128 | from scratch | 0 → 800 |" in text
    assert f"SHA-256 {'a' * 12}…" in text
    assert "## Every training run" not in reproduction_markdown(cells)


def test_runs_of_equal_length_are_listed_in_the_order_they_finished(tmp_path: Path) -> None:
    # the later run was warm-started from the earlier one: its name sorts first, its log ends later
    earlier, later = tmp_path / "clutt-L128-long", tmp_path / "clutt-L128-from-256"
    write_log(earlier, ["2400,val-train,0.1,0.25,scene_accuracy,6.25e-05,,5000.0"])
    write_log(later, ["2400,val-train,0.1,0.26,scene_accuracy,6.25e-05,,9000.0"])
    checkpoints = [
        checkpoint(later, "new.json", "new_v0.json", "b", step=2400, warm_start="clutt-L128-long"),
        checkpoint(earlier, "old.json", "old_v0.json", "a", step=2400),
    ]
    records = [("new.json", record("oracle_cluttered.py", 128, 26.0)),
               ("new_v0.json", record("oracle_cluttered.py", 128, 40.0, version=0))]  # fmt: skip
    runs = training_runs(reproduction_cells(records, checkpoints), checkpoints)
    assert [run.name for run in runs] == ["clutt-L128-long", "clutt-L128-from-256"]
