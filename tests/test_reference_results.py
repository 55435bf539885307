"""Committed reference results are scored again: a regression check of models, data and metrics.

Each test re-evaluates a committed result's submission (the committed checkpoint where there is
one) on the first samples of its record, through the real harness and the real data, and asks
for the same per-sample scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oneshotbench.records import load_record
from oneshotbench.runner import evaluate
from tests.conftest import require_real_omniglot

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def rescore(name: str, record_name: str, levels: dict[int, int], tmp_path: Path, **kw):
    """Per-sample scores of ``submissions/<name>.py`` now and in ``results/<record_name>.json``,
    on the first ``levels[level]`` samples of each level."""
    require_real_omniglot()
    record, committed = load_record(RESULTS / f"{record_name}.json")
    fresh = {}
    for level, n in levels.items():
        evaluate(
            ROOT / "submissions" / f"{name}.py",
            split=record["dataset"]["split"],
            levels=[level],
            samples=n,
            out=tmp_path / f"{record_name}-{level}.json",
            progress=False,
            oracle=record["oracle"],
            **kw,
        )
        fresh[level] = load_record(tmp_path / f"{record_name}-{level}.json")[1][level]
    return committed, fresh


def test_template_matching_picks_the_recorded_glyphs(tmp_path: Path) -> None:
    committed, fresh = rescore("template_matching", "template_matching", {4: 100, 32: 20}, tmp_path)
    for level, scores in fresh.items():
        n = len(scores)
        np.testing.assert_array_equal(scores.index, committed[level].index[:n])
        np.testing.assert_array_equal(scores.iou, committed[level].iou[:n])
        np.testing.assert_array_equal(scores.pred_x, committed[level].pred_x[:n])
        np.testing.assert_array_equal(scores.pred_y, committed[level].pred_y[:n])


def test_tiny_siamese_unet_checkpoint_scores_as_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = RESULTS / "checkpoints" / "siamese_unet-tiny-L4" / "checkpoint.safetensors"
    monkeypatch.setenv("ONESHOTBENCH_CHECKPOINT", str(checkpoint))
    committed, fresh = rescore("siamese_unet", "siamese_unet_tiny_L4", {4: 200}, tmp_path)
    now, then = fresh[4], committed[4]
    np.testing.assert_array_equal(now.index, then.index[:200])
    # float32 convolutions may round differently on another CPU; a pixel flipping across the
    # 0.3 threshold moves one sample's IoU a little, a regression moves many a lot
    assert np.abs(now.iou - then.iou[:200]).max() < 0.02
    assert abs(now.iou.mean() - then.iou[:200].mean()) < 1e-3
    assert (now.hit == then.hit[:200]).mean() >= 0.99
