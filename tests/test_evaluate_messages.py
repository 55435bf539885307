"""What `evaluate` tells a user who got something slightly wrong (issue 11, low severity)."""

from __future__ import annotations

import re
import warnings

import pytest
from test_evaluate import SCENE_MEAN, cli, run, write
from typer.testing import CliRunner

from oneshotbench import runner
from oneshotbench.cli.main import build_app
from oneshotbench.errors import OneshotbenchError
from oneshotbench.protocol import SubmissionWarning, missing_version_warning

DECLARED = "PROTOCOL_VERSION = 1\n" + SCENE_MEAN.replace("\n    ", "\n")


def test_a_folder_is_not_a_submission(tmp_path, monkeypatch, capsys):
    write(tmp_path, DECLARED, "my_model.py")
    code, _, err = cli(monkeypatch, capsys, str(tmp_path), "--levels", "4")
    assert code == 2
    assert f"{tmp_path} is a folder; a submission is one Python file, e.g. " in err
    assert str(tmp_path / "my_model.py") in err and "does not exist" not in err


def test_more_samples_than_the_split_holds_is_refused(tmp_path, monkeypatch, capsys):
    """An error, not a silent cap: the record's n must be what the command asked for."""
    submission = write(tmp_path, DECLARED)
    code, _, err = cli(
        monkeypatch, capsys, str(submission), "--levels", "4,8", "--samples", "20",
        "--out", str(tmp_path / "r.json"), "--no-progress",
    )  # fmt: skip
    assert code == 2
    assert (
        "cannot score 20 samples per level: test-one-shot holds fewer "
        "(level 4: 12; level 8: 12)" in err
    )
    assert not (tmp_path / "r.json").exists()
    assert run(submission, tmp_path, samples=12)["levels"][0]["n"] == 12  # exactly all: fine


def test_resume_with_other_settings_names_each_difference_briefly(tmp_path):
    directory = tmp_path / "r.partial"
    before = {"batch_size": 5, "dataset": {"fingerprints": {"4": "a" * 64, "8": "b" * 64}}}
    runner.Journal(directory, before, resume=False)
    (directory / "L004-000000.npz").write_bytes(b"")  # one finished batch
    after = {"batch_size": 4, "dataset": {"fingerprints": {"4": "c" * 64, "8": "b" * 64}}}
    with pytest.raises(OneshotbenchError) as err:
        runner.Journal(directory, after, resume=True)
    lines = str(err.value).splitlines()
    assert lines == [
        f"cannot resume from {directory}: the run differs in",
        "  batch_size: 5 then, 4 now",
        f"  dataset.fingerprints.4: '{'a' * 12}…' then, '{'c' * 12}…' now",
        "Rerun with the original settings, or delete that folder to start over",
    ]


def test_missing_protocol_version_warns_once(tmp_path, monkeypatch, capsys):
    bare = write(tmp_path, SCENE_MEAN, "bare.py")
    assert missing_version_warning(bare) == (
        f"{bare} does not declare PROTOCOL_VERSION; it is evaluated as predict protocol v1 "
        "(add PROTOCOL_VERSION = 1 to silence this)"
    )
    annotated = write(tmp_path, "PROTOCOL_VERSION: int = 1\n", "annotated.py")
    assert missing_version_warning(annotated) is None
    assert missing_version_warning(write(tmp_path, "def f(:\n", "broken.py")) is None
    with pytest.warns(SubmissionWarning, match="does not declare PROTOCOL_VERSION"):
        run(bare, tmp_path, levels=(4,))
    code, _, err = cli(
        monkeypatch, capsys, str(bare), "--levels", "4", "--out", str(tmp_path / "c.json"),
        "--no-progress",
    )  # fmt: skip
    assert code == 0 and err.count("warning:") == 1 and "declare PROTOCOL_VERSION" in err
    declared = write(tmp_path, DECLARED, "declared.py")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SubmissionWarning)
        run(declared, tmp_path, levels=(4,), out=tmp_path / "d.json")


def test_flags_show_no_bool_metavar():
    result = CliRunner().invoke(
        build_app("evaluate"), ["evaluate", "--help"], env={"COLUMNS": "200"}, color=False
    )
    assert result.exit_code == 0
    flags = [line for line in result.output.splitlines() if re.search(r"--(resume|oracle)\b", line)]
    assert flags and not any("<bool>" in line for line in flags)
    for name in ("--check-invariance", "--progress"):
        line = next(line for line in result.output.splitlines() if name in line)
        assert "<bool>" not in line
