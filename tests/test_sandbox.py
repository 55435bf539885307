"""The sandbox, attacked for real: each attack ends with unchanged scores or a clear error.

Runs where bubblewrap can make namespaces (CI: root on Debian 12 with bubblewrap installed);
with CI=true a missing sandbox fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from test_evaluate import BATCH_NORMALISED, SCENE_MEAN, cli, run, without_timing, write

from oneshotbench import runner, sandbox
from oneshotbench.errors import OneshotbenchError
from oneshotbench.journal import Journal
from oneshotbench.records import load_record

ATTACKS = Path(__file__).parent / "attacks"
PROBLEM = sandbox.probe_bubblewrap()
if PROBLEM and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the sandbox tests: {PROBLEM}")
needs_bwrap = pytest.mark.skipif(PROBLEM is not None, reason=f"no sandbox here: {PROBLEM}")


def attack(tmp_path: Path, name: str, **config) -> tuple[Path, dict]:
    """Copy an attack into its own folder with its configuration; the record is written into the
    same folder (the hardest case: the journal lies inside a folder the sandbox shows)."""
    folder = tmp_path / "sub"
    folder.mkdir(exist_ok=True)
    submission = folder / f"{name}.py"
    shutil.copy(ATTACKS / f"{name}.py", submission)
    record = folder / "r.json"
    secret = folder / "secret.bin"
    secret.write_bytes(os.urandom(32))
    elsewhere = tmp_path / "elsewhere.txt"  # a file of the machine's /tmp outside the submission
    elsewhere.write_text("not for the submission")
    config = {
        "elsewhere": str(elsewhere),
        "journal": str(runner.journal_path(record)),
        "record": str(record),
        "secret": str(secret),
        "port": 9,
        "token": "",
        "hog_bytes": 0,
        "harness": Path("/proc/self/cmdline").read_bytes().hex(),
        **config,
    }
    (folder / "attack.json").write_text(json.dumps(config))
    return submission, config


def scores(record: dict) -> list:
    return [(lv["level"], lv["n"], lv["iou"], lv["loc"]) for lv in record["levels"]]


def honest(tmp_path: Path, **kwargs) -> list:
    """The scores an attack must leave unchanged: the same predict, no attack, no sandbox."""
    folder = tmp_path / "honest"
    folder.mkdir()
    return scores(run(write(folder, SCENE_MEAN), folder, sandbox="none", **kwargs))


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    yield server
    server.close()


@needs_bwrap
def test_snooping_finds_nothing_and_changes_nothing(tmp_path, listener):
    submission, config = attack(tmp_path, "snoop", port=listener.getsockname()[1])
    record = run(
        submission,
        tmp_path,
        out=config["record"],
        private_seed_file=config["secret"],
        sandbox="bubblewrap",
    )
    assert record["sandbox"] == "bubblewrap"
    assert scores(record) == honest(tmp_path, private_seed_file=config["secret"])
    with pytest.raises(TimeoutError):
        listener.accept()
    assert load_record(Path(config["record"]))[0]["submission"]["name"] == "snoop"


def test_without_a_sandbox_the_same_attack_succeeds(tmp_path, listener):
    """The attack has teeth: unsandboxed, it reads the harness and the secret and is caught
    only by raising."""
    submission, config = attack(tmp_path, "snoop", port=listener.getsockname()[1])
    with pytest.raises(OneshotbenchError, match="attack succeeded: .*the secret file"):
        run(
            submission,
            tmp_path,
            out=config["record"],
            private_seed_file=config["secret"],
            sandbox="none",
        )


@needs_bwrap
def test_no_child_outlives_the_run(tmp_path):
    token = f"oneshotbench-attack-{uuid.uuid4()}"
    submission, config = attack(tmp_path, "orphan", token=token)
    record = run(submission, tmp_path, out=config["record"], sandbox="bubblewrap")
    alive = [p for p in psutil.process_iter(["cmdline"]) if token in (p.info["cmdline"] or [])]
    assert alive == []
    time.sleep(3.5)  # when the child would have forged the record
    assert load_record(Path(config["record"]))[0] == record
    assert scores(record) == honest(tmp_path)


@pytest.mark.parametrize("meter", ["cgroup", "psutil"])
@pytest.mark.parametrize("mode", ["bubblewrap", "none"])
def test_memory_of_a_child_counts(tmp_path, monkeypatch, meter, mode):
    if mode == "bubblewrap" and PROBLEM:
        pytest.skip(f"no sandbox here: {PROBLEM}")
    if meter == "psutil":  # the fallback where no cgroup can be made (CI has cgroup v1)
        monkeypatch.setattr(sandbox.TreeMemory, "_make_cgroup", lambda self, limit: None)
    submission, config = attack(tmp_path, "hog", hog_bytes=1200 * 2**20)
    with pytest.raises(OneshotbenchError, match="more than the memory limit of 900 MiB"):
        run(submission, tmp_path, out=config["record"], sandbox=mode, memory_limit=900 * 2**20)


@needs_bwrap
def test_bwrap_argv_names_nothing_sensitive(tmp_path):
    secret = tmp_path / "sub" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"x" * 32)
    journal = tmp_path / "sub" / "r.partial"
    journal.mkdir()
    layout = sandbox.Layout((tmp_path / "sub",), hidden=(secret, journal), workdir=tmp_path / "sub")
    args = sandbox.bwrap_args(layout, {"PATH": "/usr/bin"})
    assert ["--ro-bind", "/dev/null", str(secret)] == args[args.index(str(secret)) - 2 :][:3]
    assert "--tmpfs" in args[args.index(str(journal)) - 1 :][:1]
    assert "--unshare-pid" in args and "--unshare-net" in args and "--new-session" in args
    # the launched command line holds only "--args FD": the options travel through a pipe
    out = tmp_path / "cmdline"
    with open(out, "wb") as log:
        started = sandbox.launch(
            ["/bin/cat", "/proc/1/cmdline"],
            mode="bubblewrap",
            layout=layout,
            env={"PATH": "/usr/bin"},
            memory_limit=None,
            stdout=log.fileno(),
            pass_fds=(),
        )
        assert started.proc.wait(timeout=30) == 0
    cmdline = out.read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"--args", cmdline[2]] and str(secret).encode() not in b" ".join(
        cmdline
    )


def test_auto_falls_back_loudly_and_bubblewrap_refuses(monkeypatch):
    monkeypatch.setattr(sandbox, "probe_bubblewrap", lambda: "bwrap is not installed")
    mode, warning = sandbox.resolve_mode("auto")
    assert mode == "none" and "NOT SANDBOXED: bwrap is not installed" in warning
    with pytest.raises(sandbox.SandboxUnavailable, match="bwrap is not installed"):
        sandbox.resolve_mode("bubblewrap")
    with pytest.raises(OneshotbenchError, match="unknown sandbox 'docker'"):
        sandbox.resolve_mode("docker")


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MY_FLAG", "1")
    env = sandbox.worker_env(["MY_FLAG"], sandboxed=True)
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["OMP_NUM_THREADS"] == "2"
    assert env["MY_FLAG"] == "1" and env["HOME"] == "/tmp"


def test_changed_or_foreign_batch_files_are_refused(tmp_path):
    submission = write(tmp_path, SCENE_MEAN)
    source = (
        "import os\ncalls = 0\ndef make_predictor(device):\n    def predict(t, s):\n"
        "        global calls\n        calls += 1\n"
        "        if calls == 3:\n            raise RuntimeError('crash')\n"
        "        return (s.mean(1) * 2).clamp(max=1)\n    return predict\n"
    )
    submission.write_text(source)
    with pytest.raises(OneshotbenchError, match="2 finished batches are kept"):
        run(submission, tmp_path, sandbox="none")
    journal = runner.journal_path(tmp_path / "r.json")
    first, second = sorted(journal.glob("L*.npz"))
    forged = dict(np.load(first))
    forged["iou"] = np.ones_like(forged["iou"])
    with open(first, "wb") as handle:
        np.savez(handle, **forged)
    with pytest.raises(OneshotbenchError, match=f"journal file {first} was not written by this"):
        run(submission, tmp_path, sandbox="none", resume=True)
    shutil.copy(second, first)  # a genuine file in another batch's place
    with pytest.raises(OneshotbenchError, match=f"journal file {first} was not written by this"):
        run(submission, tmp_path, sandbox="none", resume=True)
    submission.write_text(source + "# changed\n")
    with pytest.raises(OneshotbenchError, match="submission changed .* delete .* start over"):
        run(submission, tmp_path, sandbox="none", resume=True)


def test_journal_authenticates_any_arrays(tmp_path):
    journal = Journal(tmp_path / "j", {"format": 2}, resume=False)
    path = tmp_path / "j" / "L004-000000.npz"
    arrays = {"a": np.arange(3), "extra_per_sample": np.ones(3, np.float32)}
    mac = __import__("oneshotbench.journal", fromlist=["_mac"])._mac(
        journal._key, path.name, arrays
    )
    np.savez(path, **arrays, _hmac=np.frombuffer(mac, np.uint8))
    assert set(journal.read(path)) == {"a", "extra_per_sample"}
    arrays["extra_per_sample"][0] = 2
    np.savez(path, **arrays, _hmac=np.frombuffer(mac, np.uint8))
    with pytest.raises(OneshotbenchError, match="was not written by this run"):
        journal.read(path)


def test_record_identifies_the_model(tmp_path, monkeypatch):
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"w" * 100)
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(b"c" * 10)
    source = f"ARTIFACTS = [{weights.name!r}]\nPARAMETERS = 1234\n" + SCENE_MEAN.replace(
        "\n    ", "\n"
    )
    submission = tmp_path / "model.py"
    submission.write_text(source)
    monkeypatch.setenv("ONESHOTBENCH_CHECKPOINT", str(checkpoint))
    monkeypatch.setenv("MY_TOKEN", "secret-value")
    record = run(submission, tmp_path, name="m60", tags=["60-steps", "tiny"], env=["MY_TOKEN"])
    entry = record["submission"]
    assert record["schema_version"] == 2 and entry["name"] == "m60"
    assert entry["tags"] == ["60-steps", "tiny"] and entry["parameters"] == 1234
    assert [(Path(a["path"]).name, a["bytes"]) for a in entry["artifacts"]] == [
        ("weights.bin", 100),
        ("ckpt.pt", 10),
    ]
    assert entry["files"]["weights.bin"] == entry["artifacts"][0]["sha256"]
    assert "r.json" not in entry["files"] and "model.py" in entry["files"]
    assert entry["env"]["ONESHOTBENCH_CHECKPOINT"] == str(checkpoint)
    assert entry["env"]["MY_TOKEN"] is None  # the name only: values may be secrets
    manifest = {"format": 2, "submission_sha256": "s", "artifacts": {str(checkpoint): "a"}}
    Journal(tmp_path / "j", manifest, resume=False)
    (tmp_path / "j" / "L004-000000.npz").write_bytes(b"")
    other = {**manifest, "artifacts": {str(checkpoint): "b"}}  # other weights, same file
    with pytest.raises(OneshotbenchError, match=r"submission changed .*\(artifacts differ\)"):
        Journal(tmp_path / "j", other, resume=True)


def test_schema_1_records_load_with_defaults(tmp_path):
    record = run(write(tmp_path, SCENE_MEAN), tmp_path, sandbox="none")
    path = tmp_path / "r.json"
    old = json.loads(path.read_text())
    old["schema_version"] = 1
    for key in ("sandbox",):
        old.pop(key)
    for key in ("tags", "artifacts", "files", "parameters", "env"):
        old["submission"].pop(key)
    path.write_text(json.dumps(old))
    loaded, _ = load_record(path)
    assert loaded["sandbox"] == "none" and loaded["submission"]["tags"] == []
    assert without_timing(loaded)["levels"] == without_timing(record)["levels"]


def test_cli_refuses_to_overwrite_flags_with_3_and_prints_literally(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    submission = write(tmp_path, SCENE_MEAN, "mean.py")
    common = ["--levels", "4", "--batch-size", "5", "--no-progress", "--sandbox", "none"]
    assert cli(monkeypatch, capsys, str(submission), *common)[0] == 0
    code, _, err = cli(monkeypatch, capsys, str(submission), *common)
    assert code == 2 and "out/mean-test-one-shot.json already holds a record" in err
    assert "--out" in err and "--overwrite" in err
    assert cli(monkeypatch, capsys, str(submission), *common, "--overwrite")[0] == 0
    code, out, _ = cli(monkeypatch, capsys, str(submission), *common, "--name", "[b]x[/b]")
    assert code == 0 and "[b]x[/b] on fake-omniglot" in out  # a name is text, not markup
    batchy = write(tmp_path, BATCH_NORMALISED, "batchy.py")
    code, out, _ = cli(monkeypatch, capsys, str(batchy), *common, "--check-invariance")
    assert code == 3 and "FLAGGED" in out and Path("out/batchy-test-one-shot.json").is_file()
    broken = write(tmp_path, "raise RuntimeError('no weights in [/data/weights]')\n", "broken.py")
    code, _, err = cli(monkeypatch, capsys, str(broken), *common)
    assert code == 2 and "no weights in [/data/weights]" in err


def test_sandbox_start_up_is_quick(tmp_path):
    """Start-up of an empty sandbox (bwrap alone, without Python): the cost it adds to a run."""
    if PROBLEM:
        pytest.skip(f"no sandbox here: {PROBLEM}")
    layout = sandbox.Layout((*sandbox.python_paths(), tmp_path), workdir=tmp_path)
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        started = sandbox.launch(
            ["/bin/true"],
            mode="bubblewrap",
            layout=layout,
            env={},
            memory_limit=2**30,
            stdout=sys.stderr.fileno(),
            pass_fds=(),
        )
        started.proc.wait(timeout=30)
        started.kill()
        best = min(best, time.perf_counter() - began)
    assert best < 0.5


def test_warning_is_a_python_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "probe_bubblewrap", lambda: "bwrap is not installed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = run(write(tmp_path, SCENE_MEAN), tmp_path, levels=(4,))
    assert record["sandbox"] == "none"
    assert any(issubclass(w.category, sandbox.SandboxWarning) for w in caught)


GPU_PROBE = """
import torch
def make_predictor(device):
    assert device.type == "cuda" and torch.cuda.is_available(), "no CUDA inside the sandbox"
    def predict(targets, scenes):
        assert scenes.is_cuda
        return (torch.nn.functional.conv2d(scenes, torch.ones(1, 3, 3, 3, device=scenes.device),
                                           padding=1)[:, 0] / 27).clamp(0, 1)
    return predict
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU (checked in GPU windows)")
def test_gpu_inside_the_sandbox(tmp_path):
    if PROBLEM:
        pytest.fail(f"no sandbox here: {PROBLEM}")
    submission = tmp_path / "gpu.py"
    submission.write_text(GPU_PROBE)
    record = run(submission, tmp_path, device="cuda", sandbox="bubblewrap")
    assert record["sandbox"] == "bubblewrap" and record["environment"]["device"].startswith("cuda")


@needs_bwrap
def test_hidden_folder_is_empty_and_read_only_but_a_declared_file_inside_shows(tmp_path):
    cache = tmp_path / "cache"
    (cache / "runs").mkdir(parents=True)
    (cache / "glyphs.npz").write_bytes(b"data")
    weights = cache / "runs" / "w.pt"
    weights.write_bytes(b"weights")
    layout = sandbox.Layout((tmp_path, weights), hidden=(cache,), workdir=tmp_path)
    script = f"ls -A {cache}; cat {weights}; echo; touch {cache}/x {tmp_path}/y 2>&1"
    out = tmp_path / "out.txt"
    with open(out, "wb") as log:
        started = sandbox.launch(
            ["/bin/sh", "-c", script],
            mode="bubblewrap",
            layout=layout,
            env={"PATH": "/usr/bin:/bin"},
            memory_limit=None,
            stdout=log.fileno(),
            pass_fds=(),
        )
        started.proc.wait(timeout=30)
        started.kill()
    lines = out.read_text().splitlines()
    assert lines[:2] == ["runs", "weights"]  # glyphs.npz is not visible
    assert lines[2:] == [
        f"touch: cannot touch '{cache}/x': Read-only file system",
        f"touch: cannot touch '{tmp_path}/y': Read-only file system",
    ]
    assert not (cache / "x").exists() and not (tmp_path / "y").exists()
