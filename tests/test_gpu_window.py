"""The GPU window command, end to end on a CPU with the tiny models (what a window will run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

from reference_models.checkpoint import load_checkpoint
from reference_models.feed import SplitFeed, job_order

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "gpu_window.py"


def run_window(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    # one thread: the tiny models gain nothing from more, and on a loaded 2-core machine two
    # OpenMP threads made a step 30x slower (spinning barriers)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(TOOL), *args, "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_window_runs_end_to_end_on_cpu_and_returns_what_a_window_may(tmp_path: Path) -> None:
    out = tmp_path / "out"
    deadline = 900  # not reached: --max-steps ends training (deadline stops: test_training_window)
    start = time.monotonic()
    done = run_window(
        "W0", "--size", "tiny", "--device", "cpu", "--deadline", str(deadline),
        "--out", str(out), "--workers", "1", "--max-steps", "3", tmp_path=tmp_path,
    )  # fmt: skip
    wall = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.is_file() for f in files)  # the device's limits
    assert all(f.stat().st_size < 16 * 2**20 for f in files)
    summary = json.loads((out / "window.json").read_text())
    assert "error" not in summary
    phases = summary["phases"]
    assert set(phases) == {
        "environment", "smoke", "calibration", "train", "target_dependence", "evaluation"
    }  # fmt: skip
    assert phases["target_dependence"]["returncode"] == 0
    assert (
        phases["target_dependence"]["samples"] == 100 and phases["target_dependence"]["step"] == 3
    )
    assert all(v.get("ok", True) for v in phases["smoke"].values())
    assert phases["smoke"]["evaluate siamese_unet"]["n"] == 8
    cases = [c for c in phases["calibration"]["cases"] if "samples_per_s" in c]
    assert cases and all(c["samples_per_s"] > 0 for c in cases)
    assert any(c.get("gflop_per_sample", 0) > 0 for c in cases)
    assert phases["calibration"]["feed"][0]["per_core"] > 0
    assert phases["train"]["exported_step"] == 3
    assert phases["train"]["warmup_steps"] == 200  # the plan's U-Net warm-up from scratch
    evaluation = {row["split"]: row for row in phases["evaluation"]}
    assert set(evaluation) == {"val-train", "test-one-shot", "test-one-shot@v0"}  # v0: pre-fix
    assert all(row["returncode"] == 0 and row["n"] == 16 for row in evaluation.values())
    model, info = load_checkpoint(out / "weights.safetensors", expect_model="siamese_unet")
    assert info.step == phases["train"]["exported_step"]
    assert json.loads((out / "weights.json").read_text())["weights_dtype"] == "float16"
    with tarfile.open(out / "records.tar.gz") as tar:
        assert sum(name.endswith(".json") for name in tar.getnames()) == 3
    assert "metrics.csv" in {f.name for f in files}
    assert wall < deadline


def test_window_rejects_an_unknown_item(tmp_path: Path) -> None:
    done = run_window("W99", "--out", str(tmp_path / "out"), "--size", "tiny", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "has no item 'W99'" in done.stdout
    assert "has no item" in json.loads((tmp_path / "out" / "window.json").read_text())["error"]


def test_split_feed_is_the_exact_split_whatever_the_workers() -> None:
    from oneshotbench.datasets import load_split

    inline = SplitFeed(4, 1000, seed=3, workers=0)
    pooled = SplitFeed(4, 1000, seed=3, workers=2)
    for step in (0, 1, 2, 0):  # in order, the next job, then a jump back (restart)
        a, b = inline.batch(step), pooled.batch(step)
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, equal_nan=True)
    job = int(job_order(3, 0, 1000)[1])
    expected = load_split("train", 4).get(job * 2000 + 1000, job * 2000 + 2000)
    assert torch.equal(
        inline.batch(3)["scene"].permute(0, 2, 3, 1), torch.from_numpy(expected.scene)
    )
    pooled.close()
