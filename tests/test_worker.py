"""The isolated worker: what it imports, what it hands over, and how it fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oneshotbench.worker import BLOCKED_MODULES
from oneshotbench.worker_handle import Limits, WorkerFault, WorkerHandle

GROUND_TRUTH_MODULES = (
    "oneshotbench.generator",
    "oneshotbench.datasets",
    "oneshotbench.metrics",
    "oneshotbench.omniglot",
    "oneshotbench.records",
    "oneshotbench.runner",
)
FAST = Limits(batch_timeout=60, timeout=120, memory=None)


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(source))
    return path


def handle(tmp_path: Path, source: str, limits: Limits = FAST, capacity: int = 4) -> WorkerHandle:
    return WorkerHandle(
        write(tmp_path, source), capacity=capacity, limits=limits, log_path=tmp_path / "log.txt"
    )


def pixels(n: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_worker_imports_nothing_that_produces_ground_truth():
    code = (
        "import sys, oneshotbench.worker, oneshotbench.protocol\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('oneshotbench'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert loaded == {
        "oneshotbench",
        "oneshotbench.worker",
        "oneshotbench.protocol",
        "oneshotbench.errors",
        "oneshotbench.channel",
    }  # not even the sandbox or the handle: the worker side knows only the channel
    assert not any(m.startswith(GROUND_TRUTH_MODULES) for m in loaded)
    assert {"oneshotbench.generator", "oneshotbench.datasets"} <= set(BLOCKED_MODULES)


def test_submission_cannot_import_the_data_modules(tmp_path):
    with pytest.raises(WorkerFault) as err, handle(tmp_path, "import oneshotbench.datasets\n") as w:
        w.load()
    assert err.value.kind == "load"
    assert "cannot be imported inside the evaluation worker" in err.value.detail
    assert "Traceback" in err.value.log_tail  # the submission's own traceback, from its stderr


def test_round_trip_hands_over_only_pixels(tmp_path):
    source = """
        import torch
        def make_predictor(device):
            def predict(*args):
                assert len(args) == 2, "ground truth was handed over"
                targets, scenes = args
                assert targets.dtype == scenes.dtype == torch.float32
                assert targets.shape[1:] == (3, 32, 32) and scenes.shape[1:] == (3, 96, 96)
                assert targets.is_contiguous() and scenes.is_contiguous()
                assert 0 <= float(scenes.min()) and float(scenes.max()) <= 1
                probs = scenes.mean(1).to(torch.float16)
                xy = targets.mean((1, 2, 3))[:, None].repeat(1, 2).double() * 1e6 + 0.123456789
                return probs, xy
            return predict
        """
    scenes, targets = pixels(3, 96, 1), pixels(3, 32, 2)
    with handle(tmp_path, source) as worker:
        assert worker.load() == ()
        worker.start("cpu", oracle=False)
        for n in (3, 1):  # a shorter batch reuses the same shared buffers
            worker.submit(scenes[:n], targets[:n])
            probs, locations = worker.collect()
            expected = (scenes[:n].astype(np.float32) / np.float32(255)).transpose(0, 3, 1, 2)
            np.testing.assert_array_equal(
                probs, expected.mean(1, dtype=np.float32).astype(np.float16).astype(np.float32)
            )
            assert probs.dtype == np.float32 and locations.dtype == np.float64
            t_mean = (targets[:n].astype(np.float32) / np.float32(255)).mean((1, 2, 3))
            np.testing.assert_allclose(locations[:, 0], t_mean * 1e6 + 0.123456789, rtol=1e-6)


def test_oracle_fields_reach_predict(tmp_path):
    source = """
        import torch
        ORACLE_FIELDS = ("instance_map", "instances")
        def make_predictor(device):
            def predict(targets, scenes, oracle):
                assert oracle["instance_map"].dtype == torch.int64
                assert [len(t) for t in oracle["instances"]] == [2, 1]
                last = torch.tensor([t["k"].max() for t in oracle["instances"]])
                return oracle["instance_map"] == last[:, None, None]
            return predict
        """
    instance_map = np.zeros((2, 96, 96), np.int16)
    instance_map[0, :5], instance_map[0, 5:9], instance_map[1, 50:] = 1, 2, 1
    tables = [pd.DataFrame({"k": [1, 2]}), pd.DataFrame({"k": [1]})]
    with handle(tmp_path, source) as worker:
        assert worker.load() == ("instance_map", "instances")
        worker.start("cpu", oracle=True)
        worker.submit(pixels(2, 96), pixels(2, 32), instance_map, tables)
        probs, _ = worker.collect()
    np.testing.assert_array_equal(probs, (instance_map == [[[2]], [[1]]]).astype(np.float32))


@pytest.mark.parametrize(
    ("body", "kind", "detail", "sample", "in_log"),
    [
        ("1 / 0", "exception", "predict raised ZeroDivisionError", None, "1 / 0"),
        ("torch.full((2, 96, 96), float('nan'))", "output", "is NaN", 0, ""),
        ("torch.zeros(2, 96, 96) + torch.arange(2)[:, None, None] * 2", "output", "is 2", 1, ""),
        ("os._exit(3)", "died", "ended (exit code 3) during predict", None, ""),
        # the stack dump that precedes the kill shows where the submission hung
        (
            "time.sleep(30)",
            "timeout",
            "took longer than the batch time limit of 2 s",
            None,
            "in predict",
        ),
        (
            "[b'x' * 50_000_000 for _ in range(40)], time.sleep(30)",
            "memory",
            "more than the memory limit of 700",
            None,
            "",
        ),
    ],
)
def test_failures_are_reported_with_output_tail(tmp_path, body, kind, detail, sample, in_log):
    source = f"""
        import os, time, torch
        def make_predictor(device):
            def predict(targets, scenes):
                print("predicting", len(scenes))
                return {body}
            return predict
        """
    batch_timeout = 2 if kind == "timeout" else 60
    limits = Limits(batch_timeout=batch_timeout, timeout=120, memory=700 * 2**20)
    with handle(tmp_path, source, limits) as worker:
        worker.load()
        worker.start("cpu", oracle=False)
        worker.submit(pixels(2, 96), pixels(2, 32))
        with pytest.raises(WorkerFault) as err:
            worker.collect()
    assert err.value.kind == kind
    assert detail in err.value.detail
    assert err.value.sample == sample
    assert "predicting 2" in err.value.log_tail and in_log in err.value.log_tail


def test_total_timeout_and_make_predictor_failure(tmp_path):
    slow = "import time\ndef make_predictor(device):\n    time.sleep(30)\n"
    late = "total time limit of 4 s ran out during"  # make_predictor, unless loading was slower
    with (
        pytest.raises(WorkerFault, match=late),
        handle(tmp_path, slow, Limits(batch_timeout=1, timeout=4)) as worker,
    ):
        worker.load()
        worker.start("cpu", oracle=False)
    broken = "def make_predictor(device):\n    raise RuntimeError('no weights')\n"
    with (
        pytest.raises(WorkerFault, match="make_predictor raised RuntimeError: no weights"),
        handle(tmp_path, broken) as worker,
    ):
        worker.load()
        worker.start("cpu", oracle=False)
