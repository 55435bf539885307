"""``evaluate`` end to end on a tiny fake split: records, resume, oracle, invariance, private
splits, torchrun, the example submissions, and every kind of bad input through the CLI."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

from oneshotbench import run_record, runner
from oneshotbench.cli.evaluate import parse_levels, parse_size
from oneshotbench.cli.main import main
from oneshotbench.errors import OneshotbenchError
from oneshotbench.metrics import PerSampleScores, SegmentationScores
from oneshotbench.private import PrivateSecret
from oneshotbench.records import load_record

ROOT = Path(__file__).resolve().parents[1]
SUBMISSIONS = ROOT / "submissions"
TIMING_KEYS = ("created", "timing")
LEVEL_TIMING_KEYS = ("samples_per_s", "wall_s")


class FakeSplit:
    """Scenes of flat-coloured rectangles, the target pasted last; every 5th target is empty.

    Rectangles keep 6 px from the border so no centre lies near the (-1, -1) sentinel.
    """

    def __init__(self, level: int, n: int = 12, seed: int = 0):
        rng = np.random.default_rng([seed, level])
        self.scene = np.zeros((n, 96, 96, 3), np.uint8)
        self.target = np.zeros((n, 32, 32, 3), np.uint8)
        self.instance_map = np.zeros((n, 96, 96), np.int16)
        rows = []
        for i in range(n):
            for k in range(1, level + 1):
                w, h = rng.integers(3, 20, 2)
                x, y = rng.integers(6, 90 - w), rng.integers(6, 90 - h)
                if k == level and i % 5 == 0:
                    w = h = 0  # an invisible target, as in the real splits
                colour = rng.integers(1, 255, 3)
                self.scene[i, y : y + h, x : x + w] = colour
                self.instance_map[i, y : y + h, x : x + w] = k
                rows.append((i, k, *colour, x, y, w, h))
            self.target[i, 8:24, 8:24] = colour
        self.mask = self.instance_map == level
        columns = ["sample", "k", "r", "g", "b", "x", "y", "width", "height"]
        self.table = pd.DataFrame(rows, columns=columns)
        self.fingerprint = hashlib.sha256(self.scene.tobytes()).hexdigest()
        self.info = {"dataset": "fake-omniglot", "version": 1, "split": "fake", "level": level}

    def __len__(self) -> int:
        return len(self.scene)

    def get(self, start, stop=None) -> SimpleNamespace:
        index = np.arange(start, stop) if stop is not None else np.asarray(start, np.int64)
        return SimpleNamespace(
            index=index.astype(np.int64),
            scene=self.scene[index],
            target=self.target[index],
            mask=self.mask[index],
            instance_map=self.instance_map[index],
            instances=self.table.set_index("sample").loc[index].reset_index(),
        )


OPENED: list[tuple] = []


def open_fake(split: str, level: int, omniglot, master_seed, *, version: int = 1) -> FakeSplit:
    """Stands in for the registry (also as ``runner.open_registered_split``: then ``version``)."""
    OPENED.append((split, level, master_seed))
    return FakeSplit(level, seed=master_seed or 0)


def write(tmp_path: Path, source: str, name: str = "submission.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


SCENE_MEAN = """
    import torch
    def make_predictor(device):
        def predict(targets, scenes):
            return (scenes.mean(1) * 2).clamp(max=1)
        return predict
    """

BATCH_NORMALISED = """
    import torch
    def make_predictor(device):
        def predict(targets, scenes):
            x = scenes.mean(1)
            return (0.5 + x - x.mean()).clamp(0, 1)  # depends on the other samples of the batch
        return predict
    """


def run(submission: Path, tmp_path: Path, **kwargs) -> dict:
    options = {"levels": (4, 8), "batch_size": 5, "out": tmp_path / "r.json", "progress": False}
    return runner.evaluate(submission, **{**options, "open_split": open_fake, **kwargs})


def without_timing(record: dict) -> dict:
    record = copy.deepcopy(record)
    for key in TIMING_KEYS:
        record.pop(key)
    record["submission"].pop("files", None)  # the folder holds the other run's outputs too
    for level in record["levels"]:
        for key in LEVEL_TIMING_KEYS:
            level.pop(key)
    return record


def expected_scores(split: FakeSplit, n: int) -> PerSampleScores:
    """What the paper's metric gives for SCENE_MEAN, computed in-process."""
    scenes = torch.from_numpy(split.scene[:n]).permute(0, 3, 1, 2).float() / 255
    scorer = SegmentationScores()
    probs = (scenes.mean(1) * 2).clamp(max=1)
    scorer.update(torch.arange(n), probs, torch.from_numpy(split.mask[:n]))
    return scorer.compute()


def test_record_matches_in_process_scores(tmp_path):
    submission = write(tmp_path, SCENE_MEAN)
    record = run(submission, tmp_path, samples=11)
    loaded, per_sample = load_record(tmp_path / "r.json")
    assert loaded == record
    for level in (4, 8):
        assert per_sample[level] == expected_scores(FakeSplit(level), 11)
    assert [lv["n"] for lv in record["levels"]] == [11, 11]
    assert record["submission"]["sha256"] == hashlib.sha256(submission.read_bytes()).hexdigest()
    assert record["dataset"]["name"] == "fake-omniglot"
    assert record["dataset"]["fingerprints"] == {
        str(level): FakeSplit(level).fingerprint for level in (4, 8)
    }
    assert record["oracle"] is False and record["invariance"] is None
    assert record["extra"] == {"batch_size": 5, "processes": 1, "protocol_version": 1}
    assert not runner.journal_path(tmp_path / "r.json").exists()  # cleaned up on success


@pytest.mark.parametrize("batch_size", [1, 250])
def test_scores_do_not_depend_on_batch_size(tmp_path, batch_size):
    run(write(tmp_path, SCENE_MEAN), tmp_path, levels=(8,), batch_size=batch_size)
    _, per_sample = load_record(tmp_path / "r.json")
    assert per_sample[8] == expected_scores(FakeSplit(8), 12)


def chance_candidates(scene: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """IoU with ``mask`` of every flat-coloured 4-connected piece of ``scene`` (scipy.ndimage):
    the values chance.py's "one uniformly coloured piece at random" can score."""
    ious = []
    colours = np.unique(scene.reshape(-1, 3), axis=0)
    for colour in colours[colours.any(axis=1)]:
        pieces, count = ndimage.label((scene == colour).all(axis=2))
        for k in range(1, count + 1):
            piece = pieces == k
            ious.append((piece & mask).sum() / (piece | mask).sum())
    return np.array(ious)


def check_chance(split, per_sample: PerSampleScores, iou_percent: float) -> None:
    """Each sample scores one independently found piece, and the mean agrees with the expectation
    of a uniform pick (1/K per piece) within four standard errors."""
    samples = split.get(0, len(per_sample))
    means, variances = [], []
    for i, iou in enumerate(per_sample.iou):
        candidates = chance_candidates(samples.scene[i], samples.mask[i])
        assert np.isclose(candidates, iou).any(), f"sample {i}: {iou} is no piece's IoU"
        means.append(candidates.mean())
        variances.append(candidates.var())
    error = 100 * np.sqrt(np.sum(variances)) / len(means)
    assert abs(iou_percent - 100 * np.mean(means)) <= 4 * error


def test_example_submissions(tmp_path):
    """The floor: all-background scores exactly the empty-target share; chance picks pieces."""
    background = run(SUBMISSIONS / "all_background.py", tmp_path, levels=(4,))
    empty = 100 * np.mean(~FakeSplit(4).mask.any(axis=(1, 2)))
    assert background["levels"][0]["iou"] == pytest.approx(empty)
    assert background["levels"][0]["loc"] == pytest.approx(empty)  # (-1,-1) meets (-1,-1)
    assert background["levels"][0]["loc_strict"] == 0.0
    # one glyph per scene: its only piece is the target (scores 1 where the target is visible)
    alone = run(SUBMISSIONS / "chance.py", tmp_path, levels=(1,), out=tmp_path / "c.json")
    assert alone["levels"][0]["iou"] == 100.0
    chance = run(SUBMISSIONS / "chance.py", tmp_path, levels=(4,), out=tmp_path / "c.json")
    check_chance(FakeSplit(4), load_record(tmp_path / "c.json")[1][4], chance["levels"][0]["iou"])


def test_example_submissions_on_real_data(tmp_path, real_glyphs):
    from oneshotbench.datasets import load_split

    def open_real(split, level, omniglot, master_seed):
        return load_split(split, level, glyphs=real_glyphs, master_seed=master_seed)

    records = {
        name: runner.evaluate(
            SUBMISSIONS / f"{name}.py",
            levels=(4,),
            samples=20,
            progress=False,
            out=tmp_path / f"{name}.json",
            open_split=open_real,
        )
        for name in ("all_background", "chance")
    }
    assert records["all_background"]["levels"][0]["iou"] == 0.0  # no empty target in 0..19
    real = open_real("test-one-shot", 4, None, None)
    chance = load_record(tmp_path / "chance.json")[1][4]
    check_chance(real, chance, records["chance"]["levels"][0]["iou"])
    assert records["chance"]["dataset"]["split"] == "test-one-shot"


def test_the_random_glyph_oracle_scores_one_over_the_visible_glyphs(tmp_path, real_glyphs):
    """The oracle floor picks each visible glyph equally often, whatever the batching: it picks
    the target (the last glyph) with probability 1 / (visible glyphs), counted from the ground
    truth."""
    from oneshotbench.datasets import load_split
    from reference_models.layers import instance_centers

    def open_real(split, level, omniglot, master_seed):
        return load_split(split, level, glyphs=real_glyphs, master_seed=master_seed)

    n, scores = 240, []
    for batch_size in (n, 7):
        runner.evaluate(
            SUBMISSIONS / "oracle_random_glyph.py", levels=(4,), samples=n, progress=False,
            oracle=True, batch_size=batch_size, out=tmp_path / f"b{batch_size}.json",
            open_split=open_real,
        )  # fmt: skip
        scores.append(load_record(tmp_path / f"b{batch_size}.json")[1][4])
    np.testing.assert_array_equal(scores[0].pred_x, scores[1].pred_x)  # batch-free choices
    np.testing.assert_array_equal(scores[0].hit, scores[1].hit)
    samples = open_real("test-one-shot", 4, None, None).get(0, n)
    instance_map = torch.as_tensor(samples.instance_map).long()
    _, visible = instance_centers(instance_map, 4)
    expected = (visible[:, -1] / visible.sum(dim=1).clamp(min=1)).double().mean().item()
    standard_error = np.sqrt(expected * (1 - expected) / n)
    assert set(np.unique(scores[0].iou)) <= {0.0, 1.0}  # a whole ground-truth glyph, or another
    assert abs((scores[0].iou == 1).mean() - expected) < 4 * standard_error


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    source = """
        import os
        calls = 0
        def make_predictor(device):
            def predict(targets, scenes):
                global calls
                calls += 1
                if calls == int(os.environ.get("CRASH_AT_CALL", "0")):
                    raise RuntimeError("simulated crash")
                return (scenes.mean(1) * 2).clamp(max=1)
            return predict
        """
    submission = write(tmp_path, source)
    reference = run(submission, tmp_path, out=tmp_path / "ref.json", check_invariance=True)
    monkeypatch.setenv("CRASH_AT_CALL", "4")  # level 4 has 3 batches: the first of level 8 fails
    with pytest.raises(OneshotbenchError) as err:  # the variable reaches the worker by name only
        run(submission, tmp_path, check_invariance=True, env=["CRASH_AT_CALL"])
    message = str(err.value)
    assert "level 8, batch 0 (samples 0-4)" in message and "predict raised RuntimeError" in message
    assert "simulated crash" in message  # from the submission's own traceback
    assert "3 finished batches are kept in" in message and "--resume" in message
    journal = runner.journal_path(tmp_path / "r.json")
    assert len(list(journal.glob("L*.npz"))) == 3
    monkeypatch.delenv("CRASH_AT_CALL")
    with pytest.raises(OneshotbenchError, match="pass --resume to continue it"):
        run(submission, tmp_path, check_invariance=True)
    with pytest.raises(OneshotbenchError, match="batch_size: 5 then, 4 now"):
        run(submission, tmp_path, check_invariance=True, resume=True, batch_size=4)
    resumed = run(submission, tmp_path, check_invariance=True, resume=True)
    expected = {**reference, "per_sample": resumed["per_sample"]}  # side file names differ
    assert without_timing(resumed) == without_timing(expected)
    assert load_record(tmp_path / "r.json")[1] == load_record(tmp_path / "ref.json")[1]
    assert not journal.exists()


def test_invariance_check_flags_batch_dependent_outputs(tmp_path):
    clean = run(write(tmp_path, SCENE_MEAN), tmp_path, check_invariance=True)["invariance"]
    assert clean["flagged"] is False and clean["max_prob_deviation"] == 0.0
    assert clean["samples"] == 24 and clean["batch_size"] == 2 and clean["order"] == "shuffled"
    dirty = run(write(tmp_path, BATCH_NORMALISED), tmp_path, check_invariance=True)["invariance"]
    assert dirty["flagged"] is True
    assert dirty["max_prob_deviation"] > dirty["tolerance"]
    assert set(dirty["levels"]) == {"4", "8"}


ORACLE = """
    ORACLE_FIELDS = ("instance_map", "instances")
    def make_predictor(device):
        def predict(targets, scenes, oracle):
            last = [int(t["k"].max()) for t in oracle["instances"]]
            return oracle["instance_map"] == torch.tensor(last)[:, None, None]
        return predict
    import torch
    """


def test_oracle_needs_the_flag_and_is_marked(tmp_path):
    submission = write(tmp_path, ORACLE)
    with pytest.raises(OneshotbenchError, match="declares ORACLE_FIELDS .* only with --oracle"):
        run(submission, tmp_path)
    record = run(submission, tmp_path, oracle=True)
    assert record["oracle"] is True
    assert [lv["iou"] for lv in record["levels"]] == [100.0, 100.0]
    plain = run(write(tmp_path, SCENE_MEAN, "plain.py"), tmp_path, oracle=True)
    assert plain["oracle"] is False  # --oracle alone hands nothing over


def test_private_split_records_only_a_commitment(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(32)))
    OPENED.clear()
    record = run(write(tmp_path, SCENE_MEAN), tmp_path, private_seed_file=secret)
    seeds = {seed for _, _, seed in OPENED}
    assert len(seeds) == 1 and 0 < seeds.pop() < 2**32  # same seed for every level, like the paper
    seed = OPENED[0][2]
    assert record["dataset"]["private"] is True
    assert record["dataset"]["seed_commitment"] == hashlib.sha256(bytes(range(32))).hexdigest()
    assert record["dataset"]["fingerprints"]["4"] != FakeSplit(4).fingerprint
    assert str(seed) not in (tmp_path / "r.json").read_text()
    other = PrivateSecret(bytes(range(32)))
    assert other.master_seed("val-one-shot") != seed == other.master_seed("test-one-shot")
    secret.write_bytes(b"short")
    with pytest.raises(OneshotbenchError, match="holds 5 bytes; use at least 16"):
        run(write(tmp_path, SCENE_MEAN), tmp_path, private_seed_file=secret)


TORCHRUN_SCRIPT = """
    import sys
    sys.path.insert(0, {tests!r})
    from test_evaluate import open_fake
    from oneshotbench.runner import evaluate
    evaluate({submission!r}, levels=(4, 8), batch_size=3, out={out!r}, progress=False,
             open_split=open_fake, check_invariance=True)
    """


def test_two_processes_under_torchrun_match_one(tmp_path):
    submission = write(tmp_path, SCENE_MEAN)
    single = run(submission, tmp_path, batch_size=3, check_invariance=True)
    script = write(
        tmp_path,
        TORCHRUN_SCRIPT.format(
            tests=str(Path(__file__).parent),
            submission=str(submission),
            out=str(tmp_path / "two.json"),
        ),
        "launch.py",
    )
    # torchrun's own module, run by this interpreter (a console script's shebang may name another)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    two, per_sample = load_record(tmp_path / "two.json")
    assert two["extra"]["processes"] == 2
    assert per_sample == load_record(tmp_path / "r.json")[1]
    for key in ("levels", "invariance"):
        a, b = without_timing(single)[key], without_timing(two)[key]
        assert a == b


# --------------------------------------------------------------------------- CLI


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(runner, "open_registered_split", open_fake)
    monkeypatch.setattr(sys, "argv", ["oneshotbench", "evaluate", *args])
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, " ".join(captured.out.split()), " ".join(captured.err.split())


def test_cli_prints_a_table_and_writes_the_record(tmp_path, monkeypatch, capsys):
    submission = write(tmp_path, SCENE_MEAN)
    code, out, err = cli(
        monkeypatch,
        capsys,
        str(submission),
        "--levels",
        "4,8",
        "--samples",
        "10",
        "--batch-size",
        "4",
        "--out",
        str(tmp_path / "r.json"),
        "--check-invariance",
    )
    assert code == 0, err
    assert "IoU %" in out and "localization %" in out and "±" in out
    assert "batch/order invariance: ok" in out and f"record: {tmp_path / 'r.json'}" in out
    assert "level 4" in err and "/s" in err  # progress bars with samples/s on stderr
    record, _ = load_record(tmp_path / "r.json")
    assert [lv["n"] for lv in record["levels"]] == [10, 10]


BAD_SUBMISSIONS = {
    "syntax": ("def make_predictor(device)\n    pass\n", "has a syntax error at line 1"),
    "import": ("import not_a_module_xyz\n", "could not be imported: ModuleNotFoundError"),
    "protocol": (
        "def predict(targets, scenes):\n    pass\n",
        "does not follow predict protocol v1: it defines no function make_predictor(device). "
        "Expected: PROTOCOL_VERSION = 1",
    ),
    "exception": (
        "def make_predictor(device):\n    return lambda t, s: [][1]\n",
        "level 4, batch 0 (samples 0-4): predict raised IndexError: list index out of range",
    ),
    "output": (
        "import torch\ndef make_predictor(device):\n"
        "    return lambda t, s: -torch.arange(len(s), dtype=torch.float32)[:, None, None]"
        ".expand(-1, 96, 96)\n",
        "level 4, batch 0 (samples 0-4), sample 1: invalid output: probability at pixel "
        "(x=0, y=0) is -1",
    ),
    "timeout": (
        "import time\ndef make_predictor(device):\n    return lambda t, s: time.sleep(60)\n",
        "level 4, batch 0 (samples 0-4): predict took longer than the batch time limit of 1.5 s",
    ),
    "memory": (
        "import time\ndef make_predictor(device):\n"
        "    return lambda t, s: ([b'x' * 50_000_000 for _ in range(40)], time.sleep(30))\n",
        "predict used",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SUBMISSIONS))
def test_cli_bad_submissions_fail_cleanly(tmp_path, monkeypatch, capsys, case):
    source, message = BAD_SUBMISSIONS[case]
    if case != "syntax":  # declared, so that no warning precedes the error
        source = "PROTOCOL_VERSION = 1\n" + source
    submission = write(tmp_path, source)
    code, _, err = cli(
        monkeypatch,
        capsys,
        str(submission),
        "--levels",
        "4",
        "--batch-size",
        "5",
        "--out",
        str(tmp_path / "r.json"),
        "--no-progress",
        "--batch-timeout",
        "1.5" if case == "timeout" else "60",
        "--memory-limit",
        "700MiB",
    )
    assert code == 2
    error = err[err.find("error:") :]  # after the one-line PROTOCOL_VERSION warning
    assert "error:" in err and message in error
    assert "Traceback (most recent call last)" not in err.split("Last output")[0]
    assert not (tmp_path / "r.json").exists()


def test_cli_missing_file_and_unwritable_output(tmp_path, monkeypatch, capsys):
    code, _, err = cli(monkeypatch, capsys, str(tmp_path / "missing.py"))
    assert code == 2 and f"submission file {tmp_path / 'missing.py'} does not exist" in err
    submission = write(tmp_path, SCENE_MEAN)
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(monkeypatch, capsys, str(submission), "--out", str(blocker / "r.json"))
    assert code == 2 and f"cannot write the result to {blocker / 'r.json'}" in err
    code, _, err = cli(monkeypatch, capsys, str(submission), "--levels", "4,x")
    assert code == 2 and "cannot read levels '4,x'" in err


def test_cli_interrupt_points_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        runner.journal_path(tmp_path / "r.json").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "evaluate", interrupted)
    code, _, err = cli(
        monkeypatch, capsys, str(write(tmp_path, SCENE_MEAN)), "--out", str(tmp_path / "r.json")
    )
    assert code == 2
    assert f"interrupted; finished batches are kept in {tmp_path / 'r.partial'}" in err
    assert "rerun the same command with --resume" in err


def test_a_failed_load_does_not_block_the_next_run(tmp_path):
    """Nothing was finished, so a plain rerun (no --resume) of the fixed file is not refused."""
    with pytest.raises(OneshotbenchError, match="could not be imported"):
        run(write(tmp_path, "import not_a_module_xyz\n"), tmp_path)
    assert run(write(tmp_path, SCENE_MEAN), tmp_path)["levels"][0]["n"] == 12


def test_option_parsers(tmp_path):
    assert parse_size("8GiB") == 8 * 2**30 and parse_size("500MB") == 500 * 10**6
    assert parse_size("none") is None and parse_size("auto") == runner.default_memory_limit()
    with pytest.raises(OneshotbenchError, match="cannot read memory limit"):
        parse_size("lots")
    assert parse_levels("4, 8,32") == (4, 8, 32)
    with pytest.raises(OneshotbenchError, match="levels must be distinct"):
        run(SUBMISSIONS / "chance.py", tmp_path, levels=(4, 4))


def test_record_names_what_was_loaded_when_files_change_during_the_run(tmp_path, monkeypatch):
    """A submission or its weights edited, or a commit made, during a long run: the record keeps
    the SHA-256 and git commit of the start (what the worker loaded) and the run says so."""
    submission = write(tmp_path, SCENE_MEAN)
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"first")
    loaded = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (submission, weights)}
    monkeypatch.setenv(runner.CHECKPOINT_ENV, str(weights))  # hashed as the run's artefact
    commits = iter(["commit-at-start", "commit-at-end"])
    real = run_record.environment_info
    monkeypatch.setattr(
        run_record, "environment_info", lambda device: {**real(device), "git_commit": next(commits)}
    )

    class EditedMidway(FakeSplit):
        def get(self, start, stop=None):
            if not submission.read_text().endswith("# edited\n"):
                submission.write_text(submission.read_text() + "# edited\n")
                weights.write_bytes(b"second")
            return super().get(start, stop)

    with pytest.warns(runner.SubmissionWarning, match="changed on disk") as caught:
        record = run(
            submission,
            tmp_path,
            open_split=lambda split, level, omniglot, seed: EditedMidway(level),
        )
    (changed,) = [str(w.message) for w in caught if "changed on disk" in str(w.message)]
    assert str(submission) in changed and str(weights) in changed
    assert record["submission"]["sha256"] == loaded[submission]
    assert record["submission"]["artifacts"][0]["sha256"] == loaded[weights]
    assert record["environment"]["git_commit"] == "commit-at-start"


READS_ITS_CHECKPOINT = """
    import os
    import torch
    def make_predictor(device):
        with open(os.environ["ONESHOTBENCH_CHECKPOINT"], "rb") as weights:
            level = weights.read()[0] / 255
        def predict(targets, scenes):
            return torch.full(scenes[:, 0].shape, level)
        return predict
    """


def test_a_relative_checkpoint_path_is_read_where_the_user_meant(tmp_path, monkeypatch):
    """``ONESHOTBENCH_CHECKPOINT=runs/x`` names a file relative to the user's folder, while the
    worker starts in the submission's; a path that names nothing is refused before any work. The
    record names it relative to that folder too: a committed record shows nobody's home."""
    (tmp_path / "sub").mkdir()
    submission = write(tmp_path / "sub", READS_ITS_CHECKPOINT)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "weights.bin").write_bytes(bytes([255]))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(runner.CHECKPOINT_ENV, "runs/weights.bin")
    record = run(submission, tmp_path, levels=(4,))
    (artifact,) = record["submission"]["artifacts"]
    assert artifact["path"] == "runs/weights.bin"
    assert record["submission"]["env"][runner.CHECKPOINT_ENV] == "runs/weights.bin"
    assert record["levels"][0]["iou"] > 0  # the worker read the file: all-lit predictions
    monkeypatch.setenv(runner.CHECKPOINT_ENV, "runs/missing.bin")
    with pytest.raises(OneshotbenchError, match="CHECKPOINT=runs/missing.bin: no such file"):
        run(submission, tmp_path, levels=(4,), out=tmp_path / "r2.json")
    assert not (tmp_path / "r2.json").exists()
