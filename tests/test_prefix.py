"""Dataset version 0: the authors' generator before their September 2018 fix, bit for bit."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from oneshotbench.datasets import load_split
from oneshotbench.datasets.cluttered_omniglot import get_dataset
from oneshotbench.datasets.fingerprints import verify_fingerprint, verify_official
from oneshotbench.generator import reference
from oneshotbench.generator.jobs import generate_run
from oneshotbench.generator.spec import T_DRAWER


@pytest.mark.parametrize("count", [3, 7, 31, 255])
def test_choice_of_an_int_is_randint(count) -> None:
    """The pre-fix ``np.random.choice(D)`` draws exactly what ``randint(0, D)`` draws."""
    for seed in range(200):
        chosen, drawn = np.random.RandomState(seed), np.random.RandomState(seed)
        assert chosen.choice(count) == drawn.randint(0, count)
        assert chosen.randint(2**32, size=4).tolist() == drawn.randint(2**32, size=4).tolist()


def test_version_0_is_never_the_default() -> None:
    assert get_dataset("cluttered-omniglot").version == 1
    assert get_dataset("cluttered-omniglot", 0).pre_fix
    assert not get_dataset("cluttered-omniglot", 1).pre_fix


def _count_failures(monkeypatch) -> dict[str, int]:
    """Count the reference's failed renders by caller: distractors or the scene target."""
    failures = {"_distractors": 0, "reference_job": 0}
    render = reference._render

    def counted(glyph, rs, scale):
        try:
            return render(glyph, rs, scale)
        except reference._Retry:
            caller = sys._getframe(1).f_code.co_name
            failures[caller] = failures.get(caller, 0) + 1
            raise

    monkeypatch.setattr(reference, "_render", counted)
    return failures


@pytest.mark.parametrize(
    ("split", "level", "job", "count", "skips", "restarts"),
    [
        ("val-train", 4, 0, 60, 1, 0),  # sample 0..59 hold a failed (skipped) distractor
        ("val-one-shot", 4, 0, 200, 0, 1),  # ... and here a failed target restarts its scene
        ("test-one-shot", 16, 2, 60, 0, 0),
        ("train", 64, 0, 20, 0, 0),
        ("test-train", 256, 4, 4, 0, 0),
    ],
)
def test_pre_fix_kernel_equals_pil_reference_loop(
    real_glyphs, monkeypatch, split, level, job, count, skips, restarts
) -> None:
    spec = load_split(split, level, version=0, glyphs=real_glyphs).job_spec(job)
    assert spec.pre_fix
    failures = _count_failures(monkeypatch)
    fast = generate_run(real_glyphs.packed, spec, count)
    glyphs = reference.glyph_images(real_glyphs.packed, spec.pool)
    scenes, masks, targets = reference.reference_job(glyphs, spec, count)
    assert failures["_distractors"] >= skips and failures["reference_job"] >= restarts
    assert np.array_equal(fast.scene, scenes)
    assert np.array_equal(fast.mask, masks)
    assert np.array_equal(fast.target, targets)


@pytest.mark.parametrize("level", [4, 16, 32])
@pytest.mark.parametrize("split", ["val-train", "test-one-shot"])
def test_pre_fix_md5_digest(real_glyphs, split, level) -> None:
    """The authors' June 2018 notebook published these digests for its pre-fix data."""
    result = verify_official(load_split(split, level, version=0, glyphs=real_glyphs))
    assert result.ok, f"{split} L{level}: expected {result.expected}, got {result.actual}"


def test_pre_fix_every_sample_matches_committed_fingerprint(real_glyphs) -> None:
    result = verify_fingerprint(load_split("test-one-shot", 8, version=0, glyphs=real_glyphs))
    assert result.ok and not result.bad_samples


@pytest.mark.parametrize("level", [8, 64])
def test_pre_fix_distractor_count_is_uniform_below_the_level(real_glyphs, level) -> None:
    """Placed distractors: 0..L-2 (mean (L-2)/2 less skips) before the fix, L-1 after it."""
    placed = {}
    for version in (0, 1):
        split = load_split("test-one-shot", level, version=version, glyphs=real_glyphs)
        table = generate_run(real_glyphs.packed, split.job_spec(0), 1000).table
        placed[version] = (table[:, :-1, T_DRAWER] > 0).sum(axis=1)
    assert (placed[1] == level - 1).all()
    assert placed[0].min() == 0 and placed[0].max() == level - 2
    mean, spread = (level - 2) / 2, np.sqrt(((level - 1) ** 2 - 1) / 12 / 1000)
    assert abs(placed[0].mean() - mean) < 4 * spread


def test_training_stream_draws_version_0_with_the_kernel(real_glyphs) -> None:
    from oneshotbench.datasets import TrainingStream
    from oneshotbench.errors import OneshotbenchError

    stream = TrainingStream(level=16, batch_size=64, version=0, glyphs=real_glyphs)
    assert stream.backend == "kernel"
    labels = [len(np.unique(m[m > 0])) for m in stream.batch(0)["instance_map"].numpy()]
    assert max(labels) <= 16 and np.mean(labels) < 10  # about 8 glyphs (7.5 distractors + 1)
    with pytest.raises(OneshotbenchError, match="kernel backend only"):
        TrainingStream(level=16, version=0, glyphs=real_glyphs, backend="torch")


def test_instances_list_only_pasted_glyphs(real_glyphs) -> None:
    samples = load_split("test-one-shot", 32, version=0, glyphs=real_glyphs).get(0, 20)
    pasted = (samples.table[..., T_DRAWER] > 0).sum(axis=1)
    assert pasted.min() < 32  # some distractor slots are empty in version 0
    assert len(samples.instances) == pasted.sum() and (samples.instances["drawer"] > 0).all()
    for position in (0, 7, 19):
        rows = samples.instances_of(position)
        assert len(rows) == pasted[position] and rows["k"].iloc[-1] == 32  # the target: label L


def test_evaluate_scores_version_0(tmp_path, monkeypatch, real_glyphs) -> None:
    import oneshotbench.datasets as datasets
    from oneshotbench import runner

    load = datasets.load_split
    monkeypatch.setattr(
        datasets, "load_split", lambda *args, **kwargs: load(*args, glyphs=real_glyphs, **kwargs)
    )
    records = {
        version: runner.evaluate(
            Path(__file__).resolve().parents[1] / "submissions" / "all_lit.py",
            levels=(4,),
            samples=60,
            progress=False,
            out=tmp_path / f"v{version}.json",
            version=version,
        )
        for version in (0, 1)
    }
    for version, record in records.items():
        assert record["dataset"]["version"] == version
        committed = get_dataset("cluttered-omniglot", version).registry.entry("test-one-shot", 4)
        assert record["dataset"]["fingerprints"]["4"] == committed["fingerprint"]
    assert records[0]["levels"][0]["iou"] > records[1]["levels"][0]["iou"] + 10
