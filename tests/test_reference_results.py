"""Committed reference results are scored again: a regression check of models, data and metrics.

Each test re-evaluates a committed result's submission (the committed checkpoint where there is
one) on the first samples of its record, through the real harness and the real data, and asks
for the same per-sample scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from oneshotbench import catalog
from oneshotbench.records import load_record
from oneshotbench.runner import evaluate
from tests.conftest import require_real_omniglot

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def rescore(name: str, record_name: str, levels: Sequence[int], n: int, tmp_path: Path, **kw):
    """Per-sample scores of ``submissions/<name>.py`` now and in ``results/<record_name>.json``
    (a name such as ``v0/x`` for the pre-fix records), on the first ``n`` samples of each of
    ``levels``: one evaluation, so the worker starts (and compiles its kernels) once."""
    require_real_omniglot()
    record, committed = load_record(RESULTS / f"{record_name}.json")
    out = tmp_path / f"{Path(record_name).name}.json"
    evaluate(
        ROOT / "submissions" / f"{name}.py",
        split=record["dataset"]["split"],
        version=record["dataset"]["version"],
        levels=list(levels),
        samples=n,
        out=out,
        progress=False,
        oracle=record["oracle"],
        **kw,
    )
    return committed, load_record(out)[1]


UNTRAINED = {
    "template_matching": ((4, 32, 256), 100),
    "v0/template_matching_v0": ((4, 64), 50),
    "template_matching_raw": ((8, 128), 50),
    "oracle_random_glyph": ((4, 256), 100),
    "all_lit": ((8,), 100),
    "chance": ((16,), 100),
}
"""Levels and samples per level re-scored of each committed record of a model without weights:
template matching and the floors (about two minutes of CI, a third of it starting a sandboxed
worker and compiling the matcher once per record)."""


@pytest.mark.parametrize("record_name", sorted(UNTRAINED))
def test_untrained_rows_pick_the_recorded_glyphs(record_name: str, tmp_path: Path) -> None:
    name = json.loads((RESULTS / f"{record_name}.json").read_text())["submission"]["file"]
    levels, n = UNTRAINED[record_name]
    committed, fresh = rescore(Path(name).stem, record_name, levels, n, tmp_path)
    for level, scores in fresh.items():
        n = len(scores)
        np.testing.assert_array_equal(scores.index, committed[level].index[:n])
        np.testing.assert_array_equal(scores.iou, committed[level].iou[:n])
        np.testing.assert_array_equal(scores.pred_x, committed[level].pred_x[:n])
        np.testing.assert_array_equal(scores.pred_y, committed[level].pred_y[:n])


CHECKPOINT_SAMPLES = 100
"""Samples re-scored per level and committed checkpoint. A paper-size U-Net predicts about 30
samples/s on 2 CPU cores, so 100 per level keeps every committed checkpoint's re-scoring together
within about 3 minutes of CI even with a full set of reference rows."""


def _checkpoint_cases() -> list:
    cases = []
    for checkpoint in catalog.checkpoints(RESULTS):
        if not checkpoint.committed:  # only its records and SHA-256 are here: nothing to run
            continue
        sources = sorted({score.record for score in checkpoint.scores})
        cases += [
            pytest.param(
                checkpoint,
                Path(source),
                sorted({s.level for s in checkpoint.scores if s.record == source}),
                id=f"{checkpoint.path.parent.name}:{Path(source).stem}",
            )
            for source in sources
        ]
        if not sources:  # a committed checkpoint must come with the record that scored it
            cases.append(pytest.param(checkpoint, None, [], id=checkpoint.path.parent.name))
    return cases


@pytest.mark.parametrize(("checkpoint", "source", "levels"), _checkpoint_cases())
def test_every_committed_checkpoint_scores_as_recorded(
    checkpoint: catalog.Checkpoint,
    source: Path | None,
    levels: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert source is not None, f"{checkpoint.path} is committed without a record that used it"
    record = json.loads(source.read_text())
    name = Path(record["submission"]["file"]).stem
    monkeypatch.setenv("ONESHOTBENCH_CHECKPOINT", str(checkpoint.path))
    record_name = str(source.relative_to(RESULTS).with_suffix(""))
    committed, fresh = rescore(name, record_name, levels, CHECKPOINT_SAMPLES, tmp_path)
    for level, now in fresh.items():
        then = committed[level]
        k = len(now)
        np.testing.assert_array_equal(now.index, then.index[:k])
        # float32 convolutions may round differently on another CPU; a pixel flipping across the
        # 0.3 threshold moves one sample's IoU a little, a regression moves many a lot
        assert np.abs(now.iou - then.iou[:k]).max() < 0.02, f"level {level}"
        assert abs(now.iou.mean() - then.iou[:k].mean()) < 1e-3, f"level {level}"
        assert (now.hit == then.hit[:k]).mean() >= 0.99, f"level {level}"


def test_every_checkpoint_left_out_of_the_repository_keeps_its_records() -> None:
    """Weights too large to commit leave their sidecar (with the SHA-256) and the records that
    used them; a sidecar that no record links to identifies nothing."""
    for checkpoint in catalog.checkpoints(RESULTS):
        if not checkpoint.committed:
            assert {s.link for s in checkpoint.scores} == {"sha256"}, checkpoint.path.parent
