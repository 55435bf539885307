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
from oneshotbench.stats import bootstrap_ci, paired_bootstrap_pvalue

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
    ranked = rank_records(records, seed=0, n_resamples=2000).entries
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
    board = rank_records([entry(tmp_path, "b", BASE), entry(tmp_path, "a", BASE)], n_resamples=200)
    ranked = board.entries
    assert [(e.rank, e.model, e.p_value) for e in ranked] == [(1, "a", None), (1, "b", 1.0)]


def test_refuses_different_fingerprints_naming_both_records(tmp_path: Path) -> None:
    other = dict(DATASET, fingerprints={4: "f4", 8: "regenerated"})
    records = [entry(tmp_path, "a", BASE), entry(tmp_path, "b", BASE, dataset=other)]
    with pytest.raises(OneshotbenchError) as err:
        rank_records(records)
    assert str(err.value) == (
        "cannot rank records that differ:\n"
        "  - dataset.fingerprints[8]: a.json has 'f8', b.json has 'regenerated'"
    )


def test_refuses_different_samples(tmp_path: Path) -> None:
    source, record, scores = entry(tmp_path, "b", BASE)
    scores[8].index = scores[8].index + 1
    with pytest.raises(OneshotbenchError) as err:
        rank_records([entry(tmp_path, "a", BASE + 0.1), (source, record, scores)])
    assert str(err.value).splitlines()[1:] == [
        "  - samples at level 8: a.json has 400, b.json has 400 (different indices)",
        "rank them on the levels and samples they share with --common",
    ]


def test_markdown_and_csv(tmp_path: Path) -> None:
    worse = np.full((2, N), 0.25)
    worse[1] = 0.5
    board = rank_records(
        [entry(tmp_path, "worse", worse), entry(tmp_path, "best", worse + 0.25)], n_resamples=999
    )
    assert leaderboard_markdown(board) == (
        "### Leaderboard\n\n"
        "cluttered-omniglot v1, test-one-shot — metric iou-paper v1, threshold 0.3; mean IoU (%) "
        "over levels 4, 8; n = 400 per level, all samples; ± half-width of the 95% bootstrap CI; "
        "Δ and p: paired bootstrap against the leader (significant: p < 0.05)\n\n"
        "| rank | model | flags | n | mean IoU | IoU 4 | IoU 8 | Δ | p | sig. |\n"
        "|:---|:---|:---|:---|---:|---:|---:|---:|---:|---:|\n"
        "| 1 | best | unsandboxed | 400 per level | 62.5 | 50.0 ± 0.0 | 75.0 ± 0.0 | – | – |  |\n"
        "| 2 | worse | unsandboxed | 400 per level | 37.5 | 25.0 ± 0.0 | 50.0 ± 0.0 | -25.0 "
        "| 0.002 | yes |\n"
    )
    assert leaderboard_csv(board).splitlines() == [
        "rank,model,flags,mean_iou,iou_4,iou_ci_low_4,iou_ci_high_4,n_4,iou_8,iou_ci_low_8,"
        "iou_ci_high_8,n_8,delta,p_value,significant,source",
        "1,best,unsandboxed,62.5,50,50,50,400,75,75,75,400,,,,best.json",
        "2,worse,unsandboxed,37.5,25,25,25,400,50,50,50,400,-25,0.002,True,worse.json",
    ]


def test_common_ranks_on_shared_levels_and_samples(tmp_path: Path) -> None:
    """Scores, CIs and p-values are recomputed on the intersection; the refusal suggests it."""
    _, wide, wide_scores = entry(tmp_path, "wide", BASE)
    narrow_iou = BASE[0][100:400] - 0.02
    narrow_scores = {4: synthetic_scores(narrow_iou)}
    narrow_scores[4].index = narrow_scores[4].index + 100  # samples 100..399
    narrow, _ = build_record(tmp_path, "narrow", narrow_scores, n_resamples=300)
    records = [("wide.json", wide, wide_scores), ("narrow.json", narrow, narrow_scores)]
    with pytest.raises(OneshotbenchError) as err:
        rank_records(records)
    assert str(err.value).splitlines() == [
        "cannot rank records that differ:",
        "  - levels: wide.json has [4, 8], narrow.json has [4]",
        "rank them on the levels and samples they share with --common",
    ]
    board = rank_records(records, common=True, n_resamples=500)
    assert board.levels == (4,) and board.n == {4: 300} and board.common
    leader, second = board.entries
    assert (leader.model, second.model) == ("wide", "narrow")
    shared = BASE[0][100:400]
    assert leader.level_iou[4] == pytest.approx(100 * shared.mean())
    assert leader.level_ci[4] == pytest.approx(
        tuple(100 * v for v in bootstrap_ci(shared, seed=7, n_resamples=200))
    )
    assert second.level_ci[4] == tuple(narrow["levels"][0]["iou_ci"])  # its own, all samples
    assert second.delta == pytest.approx(-2.0)
    assert second.p_value == paired_bootstrap_pvalue(narrow_iou, shared, 0, 500)
    far = {4: synthetic_scores(np.ones(10))}
    far[4].index = far[4].index + 1000
    lone, _ = build_record(tmp_path, "lone", far, n_resamples=100)
    with pytest.raises(OneshotbenchError, match="share no scored sample .*: wide.json, lone.json"):
        rank_records([records[0], ("lone.json", lone, far)], common=True)


def test_same_name_on_disjoint_levels_is_one_row(tmp_path: Path) -> None:
    parts = []
    for level, ious in ((4, BASE[0]), (8, BASE[1])):
        per_sample = {level: synthetic_scores(ious - 0.1)}
        record, _ = build_record(tmp_path, "perlevel", per_sample, n_resamples=200)
        parts.append((f"perlevel_L{level}.json", record, per_sample))
    board = rank_records([entry(tmp_path, "whole", BASE), *parts], n_resamples=500)
    assert [e.model for e in board.entries] == ["whole", "perlevel"]
    merged = board.entries[1]
    assert merged.source == "perlevel_L4.json + perlevel_L8.json"
    assert merged.level_iou == pytest.approx(
        {4: 100 * BASE[0].mean() - 10, 8: 100 * BASE[1].mean() - 10}
    )
    assert merged.p_value is not None and merged.significant


def test_flags_and_strict(tmp_path: Path) -> None:
    _, boxed, scores = entry(tmp_path, "boxed", BASE - 0.2)
    boxed["sandbox"] = "bubblewrap"
    _, shaky, shaky_scores = entry(tmp_path, "shaky", BASE)
    shaky["sandbox"] = "bubblewrap"
    shaky["invariance"] = {"flagged": True}
    records = [
        ("boxed.json", boxed, scores),
        ("shaky.json", shaky, shaky_scores),
        entry(tmp_path, "open", BASE),
        entry(tmp_path, "peek", BASE, oracle=True),
    ]
    board = rank_records(records, n_resamples=200)
    assert {e.model: e.flags for e in board.entries} == {
        "boxed": (),
        "shaky": ("invariance",),
        "open": ("unsandboxed",),
        "peek (oracle)": ("oracle", "unsandboxed"),
    }
    strict = rank_records(records, strict=True, n_resamples=200)
    assert [e.model for e in strict.entries] == ["boxed"]
    assert strict.left_out == [
        "shaky (invariance)",
        "open (unsandboxed)",
        "peek (oracle) (oracle, unsandboxed)",
    ]
    assert "Left out by --strict: shaky (invariance); " in leaderboard_markdown(strict)
    with pytest.raises(OneshotbenchError, match="--strict leaves no record to rank"):
        rank_records(records[1:], strict=True)


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
    assert (out / "leaderboard.md").read_text().splitlines()[6].startswith("| 1 | a |")


def test_terminal_table_keeps_long_names_and_markup_literal(tmp_path: Path) -> None:
    name = "a_very_long_submission_name_that_would_be_cut"
    paths = []
    for stem, ious in ((name, BASE), ("markup", BASE - 0.1)):
        _, record, scores = entry(tmp_path, stem, ious)
        if stem == "markup":
            record["submission"]["name"] = "[red]x[/red]"
        paths.append(str(write_record(tmp_path / f"{stem}.json", record, scores)[0]))
    result = CliRunner().invoke(app, ["leaderboard", *paths, "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert name in result.output and "[red]x[/red]" in result.output


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
    ).entries
    other = ranked[1]
    normal = 2 * stats.norm.sf(z)
    assert other.p_value == pytest.approx(normal, abs=0.012)
    assert (other.p_value < 0.05) is significant and other.significant is significant


def test_significance_is_strictly_below_alpha(tmp_path: Path) -> None:
    records = [entry(tmp_path, "leader", BASE), entry(tmp_path, "other", _near_boundary(2.1))]
    p = rank_records(records, n_resamples=2000).entries[1].p_value
    assert rank_records(records, n_resamples=2000, alpha=p).entries[1].significant is False
    assert rank_records(records, n_resamples=2000, alpha=np.nextafter(p, 1)).entries[1].significant
