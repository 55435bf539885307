"""End-to-end checks of README promises that no unit test pins down on its own.

Each test names the README sentence it guards; ``tools/mutate.py`` breaks each promise on purpose
and expects these (and the unit tests) to fail. Expected values are derived independently of the
harness: from how the fake split is built, from scipy, or from the paper's definitions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from test_evaluate import SCENE_MEAN, SUBMISSIONS, FakeSplit, run, write

from oneshotbench import runner
from oneshotbench.records import load_record


class IndexedSplit(FakeSplit):
    """FakeSplit whose scenes carry their own index in pixel (0, 0), red = low byte, green = high.

    A submission can then see which samples it was given, and in which order. The stamp sits
    outside every rectangle (they keep 6 px from the border), so masks are unchanged.
    """

    def __init__(self, level: int, n: int = 12, seed: int = 0):
        super().__init__(level, n, seed)
        index = np.arange(n)
        self.scene[:, 0, 0, 0] = index % 256
        self.scene[:, 0, 0, 1] = index // 256


def open_indexed(n: int):
    return lambda split, level, omniglot, master_seed: IndexedSplit(level, n, master_seed or 0)


# Outputs 0 when its batch arrives in ascending sample order, 1 otherwise: batch-size invariant
# (any ascending batch gives 0) but order dependent, so only a shuffled re-run can catch it.
ORDER_DEPENDENT = """
    import torch
    def make_predictor(device):
        def predict(targets, scenes):
            index = (scenes[:, 0, 0, 0] * 255).round() + 256 * (scenes[:, 1, 0, 0] * 255).round()
            ascending = bool((index[1:] > index[:-1]).all())
            return torch.full((len(scenes), 96, 96), 0.0 if ascending else 1.0)
        return predict
    """


def test_invariance_rerun_is_shuffled_and_catches_order_dependence(tmp_path):
    """README: "--check-invariance re-runs 128 random samples per level, shuffled, at half the
    batch size, and flags the submission if any probability moves by more than 1e-3"."""
    n = 300  # more than 128 samples, so the probe is a strict subset of the level
    submission = write(tmp_path, ORDER_DEPENDENT)
    record = run(
        submission,
        tmp_path,
        levels=(4,),
        batch_size=250,
        check_invariance=True,
        open_split=open_indexed(n),
    )
    invariance = record["invariance"]
    assert invariance["levels"]["4"]["samples"] == 128
    assert invariance["samples"] == 128
    assert invariance["batch_size"] == 125  # half of 250
    assert invariance["order"] == "shuffled" and invariance["levels"]["4"]["shuffled"] is True
    assert invariance["flagged"] is True
    assert invariance["max_prob_deviation"] == 1.0  # 0 in the ascending main run, 1 shuffled
    assert record["levels"][0]["n"] == n


def test_scores_do_not_depend_on_order_end_to_end(tmp_path):
    """README: "Scores do not depend on batch size, order or the number of processes": the
    shuffled, re-batched re-run scores every probe sample exactly as the main run did."""
    record = run(write(tmp_path, SCENE_MEAN), tmp_path, check_invariance=True)
    invariance = record["invariance"]
    assert invariance["order"] == "shuffled" and invariance["flagged"] is False
    for level in ("4", "8"):
        stats_ = invariance["levels"][level]
        assert stats_["samples"] == 12 and stats_["shuffled"] is True
        assert stats_["max_prob_deviation"] == 0.0
        assert stats_["max_iou_deviation"] == 0.0 and stats_["changed_hits"] == 0


@pytest.mark.parametrize("name", ["all_background", "chance"])
def test_floor_submissions_pass_the_invariance_check(tmp_path, name):
    """README, the floor: "Both pass the invariance check"."""
    record = run(SUBMISSIONS / f"{name}.py", tmp_path, check_invariance=True)
    assert record["invariance"]["flagged"] is False
    assert record["invariance"]["max_prob_deviation"] == 0.0


def test_record_intervals_are_scipy_bootstraps_with_10000_resamples(tmp_path):
    """README: "Each level gets a 95 % percentile bootstrap CI (scipy, 10,000 resamples, seed
    recorded)" — recomputed here with scipy directly from the per-sample side file."""
    record = run(write(tmp_path, SCENE_MEAN), tmp_path, levels=(8,), bootstrap_seed=7)
    assert record["bootstrap"] == {
        "method": "percentile",
        "n_resamples": 10_000,
        "confidence": 0.95,
        "seed": 7,
    }
    _, per_sample = load_record(tmp_path / "r.json")
    iou = per_sample[8].iou
    assert np.ptp(iou) > 0  # not a degenerate (constant) sample
    expected = stats.bootstrap(
        (iou,),
        np.mean,
        n_resamples=10_000,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(7),
    ).confidence_interval
    assert record["levels"][0]["iou"] == pytest.approx(100 * iou.mean())
    assert record["levels"][0]["iou_ci"] == pytest.approx([100 * expected.low, 100 * expected.high])


def test_private_splits_differ_per_secret_and_from_the_public_split(tmp_path, real_glyphs):
    """README: "--private-seed-file evaluates on splits generated from master seeds derived from a
    secret file": two secrets give two seeds and two sets of scenes, neither the public one."""
    from oneshotbench.datasets import load_split

    seeds: list[int] = []

    def open_real(split, level, omniglot, master_seed):
        seeds.append(master_seed)
        return load_split(split, level, glyphs=real_glyphs, master_seed=master_seed)

    records = []
    for k, secret in enumerate((b"A" * 32, b"B" * 32)):
        path = tmp_path / f"secret{k}.bin"
        path.write_bytes(secret)
        records.append(
            runner.evaluate(
                SUBMISSIONS / "all_background.py",
                levels=(4,),
                samples=3,
                batch_size=3,
                progress=False,
                private_seed_file=path,
                out=tmp_path / f"r{k}.json",
                open_split=open_real,
            )
        )
    assert len(seeds) == 2 and seeds[0] != seeds[1]
    assert None not in seeds
    public = load_split("test-one-shot", 4, glyphs=real_glyphs)
    scenes = [load_split("test-one-shot", 4, glyphs=real_glyphs, master_seed=s) for s in seeds]
    first = [split.get(0, 3).scene for split in (public, *scenes)]
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], first[2])
    assert not np.array_equal(first[1], first[2])
    prints = [r["dataset"]["fingerprints"]["4"] for r in records]
    assert prints[0] != prints[1] and public.fingerprint not in prints
    assert all(r["dataset"]["private"] for r in records)
