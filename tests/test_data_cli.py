"""``oneshotbench data``: list, export, verify, show, and clean errors for user mistakes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from oneshotbench.cli.main import app
from oneshotbench.datasets import load_split
from tests.conftest import require_real_omniglot

runner = CliRunner()


@pytest.fixture(scope="module")
def omniglot() -> str:
    return str(require_real_omniglot())


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed entry point (with main()'s error handling), as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "oneshotbench", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_list_shows_splits_seeds_and_fingerprints() -> None:
    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for text in ("test-one-shot", "2301871561", "2,000,000", "L=256"):
        assert text in result.output


def test_export_writes_the_authors_layout(tmp_path, omniglot, real_glyphs) -> None:
    out = tmp_path / "export"
    args = ["data", "export", "--level", "4", "--split", "test-one-shot", "--out", str(out)]
    result = runner.invoke(
        app, [*args, "--start", "30", "--stop", "40", "--instances", "--omniglot", omniglot]
    )
    assert result.exit_code == 0, result.output
    images = np.load(out / "images.npy", mmap_mode="r")
    segmentation = np.load(out / "segmentation.npy", mmap_mode="r")
    targets = np.load(out / "targets.npy", mmap_mode="r")
    instance_map = np.load(out / "instance_map.npy", mmap_mode="r")
    assert images.shape == (10, 96, 96, 3) and images.dtype == np.uint8
    assert segmentation.shape == (10, 96, 96, 1) and set(np.unique(segmentation)) <= {0, 1}
    assert targets.shape == (10, 32, 32, 3) and instance_map.dtype == np.int16
    expected = load_split("test-one-shot", 4, glyphs=real_glyphs).get(30, 40)
    assert np.array_equal(images, expected.scene)
    assert np.array_equal(segmentation[..., 0].astype(bool), expected.mask)
    assert np.array_equal(instance_map, expected.instance_map)
    table = pd.read_csv(out / "instances.csv")
    assert len(table) == 40 and table["sample"].tolist()[::4] == list(range(30, 40))
    assert (table["char"].between(0, 1622)).all() and (table["drawer"].between(11, 20)).all()
    # a second export replaces the files whole
    result = runner.invoke(app, [*args, "--start", "0", "--stop", "3", "--omniglot", omniglot])
    assert result.exit_code == 0 and np.load(out / "images.npy").shape[0] == 3
    first = load_split("test-one-shot", 4, glyphs=real_glyphs).get(0, 3)
    assert np.array_equal(np.load(out / "targets.npy"), first.target)
    assert np.array_equal(np.load(out / "segmentation.npy")[..., 0], first.mask)
    # the authors' layout by default: the earlier instance files (other samples) are gone
    assert sorted(p.name for p in out.iterdir()) == [
        "images.npy",
        "segmentation.npy",
        "targets.npy",
    ]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_verify_official_digest_via_cli(omniglot) -> None:
    args = ["data", "verify", "--official", "--levels", "4,8", "--splits", "test-one-shot"]
    result = runner.invoke(app, [*args, "--omniglot", omniglot])
    assert result.exit_code == 0, result.output
    assert "all 2 checks passed" in result.output


def test_show_writes_a_figure(tmp_path, omniglot) -> None:
    out = tmp_path / "fig.png"
    result = runner.invoke(app, ["data", "show", "--out", str(out), "--omniglot", omniglot])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "4", "--split", "test"], "unknown split 'test'"),
        (["--level", "5", "--split", "test-one-shot"], "unknown clutter level 5"),
        (
            ["--level", "4", "--split", "val-train", "--start", "9999", "--stop", "10001"],
            "out of range",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, omniglot, args, message) -> None:
    result = run_cli("data", "export", *args, "--out", str(tmp_path / "x"), "--omniglot", omniglot)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_unwritable_output_is_a_clear_error(tmp_path, omniglot) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli(
        "data", "export", "--level", "4", "--split", "val-train", "--stop", "2",
        "--out", str(blocker / "sub"), "--omniglot", omniglot,
    )  # fmt: skip
    assert result.returncode == 2 and "cannot create output directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_verify_level_lists_the_known_ones() -> None:
    result = run_cli("data", "verify", "--levels", "3")
    assert result.returncode == 2 and "known: 4, 8, 16, 32, 64, 128, 256" in result.stderr
