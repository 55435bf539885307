"""Bootstrap intervals, level summaries, record assembly, atomic write and strict loading."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from oneshotbench import records
from oneshotbench.errors import OneshotbenchError
from oneshotbench.metrics import IOU_PAPER, LOC_PAPER, LOC_STRICT, PerSampleScores
from oneshotbench.records import (
    SCHEMA_VERSION,
    check_comparable,
    environment_info,
    load_record,
    make_record,
    samples_path,
    summarize_level,
    write_record,
)
from oneshotbench.stats import bootstrap_ci

DATASET = {
    "name": "cluttered-omniglot",
    "version": 1,
    "split": "test-one-shot",
    "levels": [4, 8],
    "fingerprints": {4: "f4", 8: "f8"},
    "private": False,
    "seed_commitment": None,
}


def synthetic_scores(iou: np.ndarray, hit: np.ndarray | None = None) -> PerSampleScores:
    """Per-sample scores with the given IoU (and hits), indices 0..n-1."""
    n = len(iou)
    hits = np.asarray(iou > 0.5 if hit is None else hit, dtype=bool)
    return PerSampleScores(
        index=np.arange(n, dtype=np.int64),
        iou=np.asarray(iou, dtype=np.float64),
        hit=hits,
        hit_strict=hits & (np.arange(n) % 3 > 0),
        pred_x=np.arange(n, dtype=np.int64) % 96,
        pred_y=np.full(n, 7, dtype=np.int64),
    )


def build_record(
    directory: Path,
    name: str,
    per_sample: dict[int, PerSampleScores],
    *,
    oracle: bool = False,
    dataset: dict | None = None,
    threshold: float = 0.3,
    n_resamples: int = 1000,
) -> tuple[dict, dict[int, PerSampleScores]]:
    """A complete record for ``per_sample`` (as `evaluate` would make it) and its scores."""
    submission = directory / f"{name}.py"
    submission.write_text(f"# {name}\n")
    levels = [
        summarize_level(level, scores, bootstrap_seed=7, wall_s=2.0, n_resamples=n_resamples)
        for level, scores in sorted(per_sample.items())
    ]
    data = dict(DATASET if dataset is None else dataset, levels=sorted(per_sample))
    record = make_record(
        submission_path=submission,
        dataset=data,
        levels=levels,
        oracle=oracle,
        threshold=threshold,
        bootstrap_seed=7,
        n_resamples=n_resamples,
        wall_s=4.0,
        device=torch.device("cpu"),
    )
    return record, per_sample


# --- bootstrap -----------------------------------------------------------------------------------


def test_bootstrap_ci_is_seeded_percentile_and_brackets_the_mean() -> None:
    values = np.random.default_rng(0).random(500)
    low, high = bootstrap_ci(values, seed=3, n_resamples=2000)
    assert (low, high) == bootstrap_ci(values, seed=3, n_resamples=2000)
    assert (low, high) != bootstrap_ci(values, seed=4, n_resamples=2000)
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(500), rel=0.15)
    direct = stats.bootstrap(  # one unbatched scipy call with the same generator: same interval
        (values,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(3)
    ).confidence_interval
    assert (low, high) == (direct.low, direct.high)


def test_bootstrap_ci_defaults_to_10000_resamples() -> None:
    """README: "95 % percentile bootstrap CI (scipy, 10,000 resamples, seed recorded)"."""
    values = np.random.default_rng(1).random(200)
    direct = stats.bootstrap(
        (values,), np.mean, n_resamples=10_000, method="percentile", rng=np.random.default_rng(5)
    ).confidence_interval
    assert bootstrap_ci(values, seed=5) == (direct.low, direct.high)


def test_bootstrap_ci_of_constant_input_is_a_point_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_ci(np.ones(100), seed=0) == (1.0, 1.0)
        assert bootstrap_ci(np.array([0.25]), seed=0) == (0.25, 0.25)
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci(np.array([]), seed=0)


def test_summarize_level_reports_percentages() -> None:
    scores = synthetic_scores(np.array([1.0, 0.5, 0.0, 0.25]), hit=np.array([1, 1, 0, 1]))
    level = summarize_level(16, scores, bootstrap_seed=1, wall_s=0.5, n_resamples=500)
    assert (level.level, level.n, level.samples_per_s, level.wall_s) == (16, 4, 8.0, 0.5)
    assert level.iou == 43.75 and level.loc == 75.0 and level.loc_strict == 25.0
    assert level.iou_ci[0] <= level.iou <= level.iou_ci[1] <= 100.0
    assert level.loc_ci == tuple(100 * v for v in bootstrap_ci(scores.hit, 1, 500))


# --- records -------------------------------------------------------------------------------------


def test_make_record_content(tmp_path: Path) -> None:
    per_sample = {4: synthetic_scores(np.linspace(0, 1, 50)), 8: synthetic_scores(np.zeros(30))}
    record, _ = build_record(tmp_path, "unet", per_sample, oracle=True)
    assert list(record) == [
        "schema_version",
        "created",
        "sandbox",
        "submission",
        "dataset",
        "metrics",
        "oracle",
        "bootstrap",
        "levels",
        "mean_iou",
        "invariance",
        "timing",
        "environment",
        "extra",
    ]
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["created"].endswith("+00:00")
    assert record["sandbox"] == "none"
    digest = hashlib.sha256(b"# unet\n").hexdigest()
    assert record["submission"] == {
        "name": "unet",
        "file": "unet.py",
        "sha256": digest,
        "tags": [],
        "artifacts": [],
        "files": {"unet.py": digest},
        "parameters": None,
        "env": {},
    }
    assert record["dataset"]["fingerprints"] == {"4": "f4", "8": "f8"}
    assert record["metrics"] == {
        "iou": IOU_PAPER.to_dict(),
        "localization": LOC_PAPER.to_dict(),
        "localization_strict": LOC_STRICT.to_dict(),
        "threshold": 0.3,
    }
    assert record["oracle"] is True
    assert record["bootstrap"] == {
        "method": "percentile",
        "n_resamples": 1000,
        "confidence": 0.95,
        "seed": 7,
    }
    assert [lv["level"] for lv in record["levels"]] == [4, 8]
    assert record["levels"][0]["iou"] == pytest.approx(50.0)
    assert record["mean_iou"] == pytest.approx(25.0)
    assert record["timing"] == {"wall_s": 4.0, "samples_per_s": 20.0}


def test_environment_info_survives_missing_git(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(records.subprocess, "run", no_git)
    env = environment_info(torch.device("cpu"))
    assert env["git_commit"] is None and env["git_dirty"] is None
    assert env["torch"] == torch.__version__ and env["numpy"] == np.__version__
    assert env["device"] == "cpu" and env["cpu_count"] >= 1 and env["gpu_count"] >= 0
    assert env["oneshotbench"] and env["python"] and env["device_name"]


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    per_sample = {4: synthetic_scores(np.linspace(0, 1, 40)), 8: synthetic_scores(np.ones(40))}
    record, _ = build_record(tmp_path, "unet", per_sample)
    json_path, side = write_record(tmp_path / "out" / "run.json", record, per_sample)
    assert side == samples_path(json_path) == tmp_path / "out" / "run.samples.npz"
    loaded, loaded_scores = load_record(json_path)
    assert loaded == {**record, "per_sample": loaded["per_sample"]}
    assert loaded["per_sample"]["file"] == "run.samples.npz"
    assert loaded_scores == per_sample
    assert loaded_scores[4].iou.dtype == np.float64 and loaded_scores[4].hit.dtype == np.bool_
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["run.json", "run.samples.npz"]


def test_write_is_atomic_when_the_disk_fails(tmp_path: Path, monkeypatch) -> None:
    per_sample = {4: synthetic_scores(np.linspace(0, 1, 20))}
    record, _ = build_record(tmp_path, "unet", per_sample)
    path = tmp_path / "run.json"
    write_record(path, record, per_sample)
    before = (path.read_bytes(), samples_path(path).read_bytes())

    def disk_full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    other = {4: synthetic_scores(np.zeros(20))}
    with pytest.raises(OneshotbenchError, match=f"cannot write result record {path}: No space"):
        write_record(path, record, other)
    monkeypatch.undo()
    assert (path.read_bytes(), samples_path(path).read_bytes()) == before
    assert load_record(path)[1] == per_sample
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.samples.npz", "unet.py"]


def test_unwritable_path_is_a_user_error(tmp_path: Path) -> None:
    per_sample = {4: synthetic_scores(np.ones(5))}
    record, _ = build_record(tmp_path, "unet", per_sample)
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    with pytest.raises(OneshotbenchError, match="cannot write result record .*file.txt/run.json"):
        write_record(blocker / "run.json", record, per_sample)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    per_sample = {4: synthetic_scores(np.linspace(0, 1, 10))}
    record, _ = build_record(tmp_path, "unet", per_sample)
    return write_record(tmp_path / "run.json", record, per_sample)[0]


def test_load_missing_record(tmp_path: Path) -> None:
    with pytest.raises(OneshotbenchError, match="result record not found: .*nope.json"):
        load_record(tmp_path / "nope.json")


def test_load_corrupt_json(written: Path) -> None:
    written.write_text(written.read_text()[:-20])
    with pytest.raises(OneshotbenchError, match=r"run.json is not valid JSON \(line \d+"):
        load_record(written)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "not a oneshotbench result record"),
        (
            {"schema_version": 99},
            "has schema_version 99; this oneshotbench .* reads schema_version 1, 2",
        ),
    ],
)
def test_load_rejects_foreign_json(written: Path, content, message: str) -> None:
    written.write_text(json.dumps(content))
    with pytest.raises(OneshotbenchError, match=message):
        load_record(written)


def test_load_checks_the_side_file(written: Path) -> None:
    side = samples_path(written)
    data = side.read_bytes()
    side.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(OneshotbenchError, match="does not match result record .*SHA-256"):
        load_record(written)
    side.unlink()
    with pytest.raises(OneshotbenchError, match="per-sample file .*run.samples.npz .* is missing"):
        load_record(written)


def test_check_comparable_names_records_and_fields(tmp_path: Path) -> None:
    scores = {4: synthetic_scores(np.ones(5)), 8: synthetic_scores(np.ones(5))}
    base, _ = build_record(tmp_path, "a", scores)
    check_comparable([("a.json", base), ("b.json", base)], same_levels=True, purpose="rank")
    other_data = dict(DATASET, split="test-train", fingerprints={4: "f4", 8: "other"})
    other, _ = build_record(tmp_path, "b", scores, dataset=other_data, threshold=0.5)
    with pytest.raises(OneshotbenchError) as err:
        check_comparable([("a.json", base), ("b.json", other)], same_levels=False, purpose="report")
    assert str(err.value) == (
        "cannot report records that differ — "
        "dataset.split: a.json has 'test-one-shot', b.json has 'test-train'; "
        "metrics.threshold: a.json has 0.3, b.json has 0.5; "
        "dataset.fingerprints[8]: a.json has 'f8', b.json has 'other'"
    )
    fewer, _ = build_record(tmp_path, "c", {4: synthetic_scores(np.ones(5))})
    check_comparable([("a.json", base), ("c.json", fewer)], same_levels=False, purpose="report")
    with pytest.raises(OneshotbenchError, match=r"levels \(level: samples\): a.json has"):
        check_comparable([("a.json", base), ("c.json", fewer)], same_levels=True, purpose="rank")


def test_every_record_key_is_documented(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "record-schema.md").read_text()
    per_sample = {4: synthetic_scores(np.ones(3))}
    record, _ = build_record(tmp_path, "unet", per_sample)
    path = write_record(tmp_path / "run.json", record, per_sample)[0]
    loaded, _ = load_record(path)
    for key, value in loaded.items():
        assert f"`{key}" in doc, key
        children = value[0] if key == "levels" else value
        parent = "levels[]" if key == "levels" else key
        if isinstance(children, dict) and key != "extra":
            for child in children:
                assert f"`{parent}.{child}`" in doc or f"`.{child}`" in doc, f"{parent}.{child}"
