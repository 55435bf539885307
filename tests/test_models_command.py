"""`oneshotbench models`: parameter counts, committed checkpoints, and the scores linked to them."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

import reference_models
from oneshotbench.catalog import checkpoints
from oneshotbench.catalog import reference_models as catalog_models
from oneshotbench.cli.main import app, main
from oneshotbench.errors import OneshotbenchError


def test_meta_device_counts_equal_built_models() -> None:
    counts = {m.name: m.parameters for m in catalog_models()}
    assert set(counts) == set(reference_models.list_models())
    assert counts["siamese_unet"] == {"paper": 3_223_922, "tiny": 90_602}  # as in the README
    for name in counts:
        built = reference_models.create_model(name, "tiny")  # a real build (tiny is cheap)
        assert counts[name]["tiny"] == reference_models.count_parameters(built)


def level_entry(level: int, iou: float) -> dict:
    return {"level": level, "n": 50, "iou": iou, "iou_ci": [iou - 1, iou + 1]}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    run = tmp_path / "results" / "checkpoints" / "unet-L8"
    run.mkdir(parents=True)
    weights = run / "checkpoint.safetensors"
    save_file({"a": torch.zeros(3, 4), "b": torch.zeros(5)}, str(weights))
    init = "runs/siamese_unet-L4/checkpoint.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    meta = {"format": "oneshotbench-checkpoint", "model": "siamese_unet", "size": "tiny",
            "level": 8, "step": 60, "config": {"batch_size": 16, "init": init},
            "weights_sha256": digest}  # fmt: skip
    (run / "checkpoint.json").write_text(json.dumps(meta))
    records = {
        "hashed": {"name": "other_name", "artifacts": [{"path": "x", "sha256": digest}]},
        "other_weights": {"name": "siamese_unet", "artifacts": [{"path": "y", "sha256": "0"}]},
        "v1": {"name": "siamese_unet"},
    }
    for stem, submission in records.items():
        record = {"submission": submission, "levels": [level_entry(4, 10.0), level_entry(8, 20.0)]}
        (tmp_path / "results" / f"{stem}.json").write_text(json.dumps(record))
    return tmp_path / "results"


def test_checkpoints_are_hashed_and_linked_to_the_records_that_used_them(results: Path) -> None:
    (found,) = checkpoints(results)
    assert (found.model, found.size, found.level, found.step) == ("siamese_unet", "tiny", 8, 60)
    assert found.parameters == 17 and found.bytes == found.path.stat().st_size
    assert found.samples_trained == 60 * 16 and found.warm_start == "siamese_unet-L4"
    assert found.origin() == "warm-started from siamese_unet-L4"  # another level: start_step 0
    sidecar = found.path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "config": {**meta["config"], "start_step": 20}}))
    (resumed,) = checkpoints(results)
    assert resumed.origin("`") == "continued from `siamese_unet-L4` at step 20"
    by_record = {(Path(s.record).stem, s.level): s.link for s in found.scores}
    assert by_record == {
        ("hashed", 4): "sha256",
        ("hashed", 8): "sha256",
        ("v1", 8): "unverified (name and level)",
    }


def test_a_checkpoint_left_out_of_the_repository_keeps_its_records(results: Path) -> None:
    (committed,) = checkpoints(results)
    committed.path.unlink()  # the sidecar stays, with the weights' SHA-256
    (found,) = checkpoints(results)
    assert not found.committed and found.path == committed.path
    assert found.sha256 == json.loads(found.path.with_suffix(".json").read_text())["weights_sha256"]
    assert (found.parameters, found.bytes) == (None, None)
    assert {(Path(s.record).stem, s.link) for s in found.scores} >= {("hashed", "sha256")}
    result = CliRunner().invoke(app, ["models", "--results", str(results)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "(not committed)" in result.output and found.sha256 in result.output
    assert "weights not in this folder" in " ".join(result.output.split())


def test_a_sidecar_without_weights_or_their_hash_is_refused(results: Path) -> None:
    sidecar = results / "checkpoints" / "unet-L8" / "checkpoint.json"
    (sidecar.parent / "checkpoint.safetensors").unlink()
    meta = json.loads(sidecar.read_text())
    del meta["weights_sha256"]
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(OneshotbenchError, match=r"checkpoint\.json has neither its weights"):
        checkpoints(results)


def test_models_command(results: Path, monkeypatch, capsys) -> None:
    (found,) = checkpoints(results)
    for columns in ("80", "250"):  # a pipe gets 80: nothing may be cut there
        result = CliRunner().invoke(
            app, ["models", "--results", str(results)], env={"COLUMNS": columns}
        )
        assert result.exit_code == 0, result.output
        assert max(len(line) for line in result.output.splitlines()) <= int(columns)
        assert "3,223,922" in result.output and "90,602" in result.output
        assert found.sha256 in result.output  # on one line, whole
        flat = " ".join(line.strip(" │") for line in result.output.splitlines())
        assert "step 60 of batch 16 (960 samples trained)" in " ".join(flat.split())
        assert "warm-started from siamese_unet-L4" in " ".join(result.output.split())
        assert "L8: 20.0 % IoU [19.0, 21.0], n=50" in " ".join(flat.split())
    monkeypatch.setattr(sys, "argv", ["oneshotbench", "models", "--results", str(results / "no")])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 2
    assert "results directory" in capsys.readouterr().err
