"""Leaderboard ranking, paired significance against the leader, refusal to mix data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from test_records import DATASET, build_record, synthetic_scores
from typer.testing import CliRunner

from oneshotbench.cli.main import app
from oneshotbench.errors import OneshotbenchError
from oneshotbench.leaderboard import leaderboard_csv, leaderboard_markdown, rank_records
from oneshotbench.records import write_record
from oneshotbench.stats import paired_bootstrap_pvalue

N = 400
BASE = np.random.default_rng(0).uniform(0.2, 0.8, size=(2, N))  # per-sample IoU at levels 4, 8
NOISE = np.random.default_rng(1).normal(0, 0.05, size=(2, N // 2))
TIED = BASE + np.concatenate([NOISE, -NOISE], axis=1)  # paired differences average exactly 0


def entry(tmp_path: Path, name: str, ious: np.ndarray, **kwargs) -> tuple[str, dict, dict]:
    per_sample = {4: synthetic_scores(ious[0]), 8: synthetic_scores(ious[1])}
    record, scores = build_record(tmp_path, name, per_sample, n_resamples=200, **kwargs)
    return f"{name}.json", record, scores


def test_paired_pvalue() -> None:
    a = BASE[0]
    assert paired_bootstrap_pvalue(a, a, seed=0) == 1.0
    assert paired_bootstrap_pvalue(a + 0.1, a, seed=0, n_resamples=999) == 2 / 1000
    shifted = paired_bootstrap_pvalue(a + NOISE[0].repeat(2) + 0.01, a, seed=5, n_resamples=2000)
    assert shifted == paired_bootstrap_pvalue(a + NOISE[0].repeat(2) + 0.01, a, 5, 2000)
    assert 0.0 < shifted < 1.0
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap_pvalue(a, a[:-1], seed=0)


def test_ranking_deltas_and_significance(tmp_path: Path) -> None:
    records = [
        entry(tmp_path, "tied", TIED),
        entry(tmp_path, "leader", BASE),
        entry(tmp_path, "clearly_worse", BASE - 0.05, oracle=True),
    ]
    ranked = rank_records(records, seed=0, n_resamples=2000)
    assert [e.model for e in ranked] == ["leader", "tied", "clearly_worse (oracle)"]
    assert [e.source for e in ranked] == ["leader.json", "tied.json", "clearly_worse.json"]
    leader, tied, worse = ranked
    assert (leader.delta, leader.p_value, leader.significant) == (None, None, None)
    assert leader.mean_iou == pytest.approx(100 * BASE.mean())
    assert leader.level_iou == pytest.approx({4: 100 * BASE[0].mean(), 8: 100 * BASE[1].mean()})
    assert tied.delta == pytest.approx(0.0, abs=1e-9) and tied.p_value > 0.5
    assert tied.significant is False
    assert worse.delta == pytest.approx(-5.0) and worse.p_value < 0.01 and worse.significant
    assert worse.oracle is True
    assert [e.rank for e in ranked] == (
        [1, 1, 3] if tied.mean_iou == leader.mean_iou else [1, 2, 3]
    )


def test_identical_scores_share_a_rank(tmp_path: Path) -> None:
    ranked = rank_records([entry(tmp_path, "b", BASE), entry(tmp_path, "a", BASE)], n_resamples=200)
    assert [(e.rank, e.model, e.p_value) for e in ranked] == [(1, "a", None), (1, "b", 1.0)]


def test_refuses_different_fingerprints_naming_both_records(tmp_path: Path) -> None:
    other = dict(DATASET, fingerprints={4: "f4", 8: "regenerated"})
    records = [entry(tmp_path, "a", BASE), entry(tmp_path, "b", BASE, dataset=other)]
    with pytest.raises(OneshotbenchError) as err:
        rank_records(records)
    assert str(err.value) == (
        "cannot rank records that differ — "
        "dataset.fingerprints[8]: a.json has 'f8', b.json has 'regenerated'"
    )


def test_refuses_different_samples(tmp_path: Path) -> None:
    source, record, scores = entry(tmp_path, "b", BASE)
    scores[8].index = scores[8].index + 1
    with pytest.raises(OneshotbenchError, match="level 8 of b.json and of a.json hold different"):
        rank_records([entry(tmp_path, "a", BASE + 0.1), (source, record, scores)])


def test_markdown_and_csv(tmp_path: Path) -> None:
    worse = np.full((2, N), 0.25)
    worse[1] = 0.5
    ranked = rank_records(
        [entry(tmp_path, "worse", worse), entry(tmp_path, "best", worse + 0.25)], n_resamples=999
    )
    assert leaderboard_markdown(ranked) == (
        "| rank | model | oracle | mean IoU | IoU 4 | IoU 8 | Δ | p | sig. |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        "| 1 | best |  | 62.5 | 50.0 | 75.0 | – | – |  |\n"
        "| 2 | worse |  | 37.5 | 25.0 | 50.0 | -25.0 | 0.002 | yes |\n"
    )
    assert leaderboard_csv(ranked) == (
        "rank,model,oracle,mean_iou,iou_4,iou_8,delta,p_value,significant\n"
        "1,best,False,62.5,50,75,,,\n"
        "2,worse,False,37.5,25,50,-25,0.002,True\n"
    )


def test_leaderboard_command(tmp_path: Path) -> None:
    paths = []
    for name, ious in (("a", BASE), ("b", BASE - 0.1)):
        _, record, scores = entry(tmp_path, name, ious)
        paths.append(str(write_record(tmp_path / f"{name}.json", record, scores)[0]))
    out = tmp_path / "board"
    result = CliRunner().invoke(
        app, ["leaderboard", *paths, "--out", str(out), "--resamples", "500"]
    )
    assert result.exit_code == 0, result.output
    assert "Leaderboard" in result.output and "-10.0" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv", "leaderboard.md"]
    assert (out / "leaderboard.md").read_text().splitlines()[2].startswith("| 1 | a |")


def _near_boundary(z: float) -> np.ndarray:
    """Per-sample IoU of a model whose paired differences from the leader (BASE) have mean
    ``z`` standard errors: a mean-zero noise vector scaled so its standard error is 0.5 % IoU."""
    noise = np.random.default_rng(3).normal(0, 1, size=(2, N))
    noise -= noise.mean()
    se = noise.std() / np.sqrt(noise.size)
    diff = (noise / se + z) * 0.005
    return BASE - diff


@pytest.mark.parametrize(("z", "significant"), [(2.1, True), (1.85, False)])
def test_significance_near_p_005(tmp_path: Path, z: float, significant: bool) -> None:
    """README: "significant" means p < 0.05. Differences of 2.1 and 1.85 standard errors sit
    just either side of the normal-theory boundary 1.96 (p = 0.036 and 0.064 by scipy.stats.norm);
    the bootstrap's p agrees within 0.012 and the verdict follows p < 0.05."""
    ranked = rank_records(
        [entry(tmp_path, "leader", BASE), entry(tmp_path, "other", _near_boundary(z))],
        seed=0,
        n_resamples=10_000,
    )
    other = ranked[1]
    normal = 2 * stats.norm.sf(z)
    assert other.p_value == pytest.approx(normal, abs=0.012)
    assert (other.p_value < 0.05) is significant and other.significant is significant


def test_significance_is_strictly_below_alpha(tmp_path: Path) -> None:
    records = [entry(tmp_path, "leader", BASE), entry(tmp_path, "other", _near_boundary(2.1))]
    p = rank_records(records, n_resamples=2000)[1].p_value
    assert rank_records(records, n_resamples=2000, alpha=p)[1].significant is False
    assert rank_records(records, n_resamples=2000, alpha=np.nextafter(p, 1))[1].significant
