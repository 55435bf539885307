"""Glyph analysis: synthetic predictions whose answer is known, on real generator samples (with
synthetic glyphs), and invariance to batch size through ``evaluate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from oneshotbench import runner
from oneshotbench.analysis.page import build_report, default_out_dir, oracle_normalised
from oneshotbench.analysis.summary import load_analysed
from oneshotbench.cli.main import main
from oneshotbench.datasets import load_split
from oneshotbench.generator.canonical import T_VISIBLE
from oneshotbench.glyph_analysis import (
    GLYPH_FIELDS,
    GlyphAnalysis,
    analyze_batch,
    analyze_glyphs,
    pack_masks,
    unpack_masks,
)
from oneshotbench.records import load_record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch(synthetic):
    return load_split("test-one-shot", 8, glyphs=synthetic).get(0, 24)


def _analyse(samples, pred: np.ndarray) -> GlyphAnalysis:
    return analyze_glyphs(
        samples.index, pred, samples.instance_map, samples.table, samples.char_alphabet
    )


def test_visible_counts_match_the_instance_map(batch) -> None:
    for k in range(1, 9):
        counts = (batch.instance_map == k).sum(axis=(1, 2))
        assert np.array_equal(counts, batch.table[:, k - 1, T_VISIBLE])
    assert np.array_equal(batch.mask, batch.instance_map == 8)


def test_target_mask_is_detected_with_iou_one(batch) -> None:
    result = _analyse(batch, batch.mask)
    shown = batch.mask.any(axis=(1, 2))
    assert shown.any() and np.array_equal(result["detected"], shown)
    assert np.all(result["chosen_iou"][shown] == 1)
    assert np.all(result["share_target"][shown] == 1)
    assert np.all(result["chosen"][~shown] == 0)


def test_distractor_mask_names_that_distractor(batch) -> None:
    visible = batch.table[:, :-1, T_VISIBLE]
    assert np.all(visible.max(axis=1) > 0)
    k = visible.argmax(axis=1) + 1  # a distractor with visible pixels in every sample
    pred = batch.instance_map == k[:, None, None]
    result = _analyse(batch, pred)
    assert np.array_equal(result["chosen"], k)
    assert not result["detected"].any()
    assert np.all(result["chosen_iou"] == 1)
    assert np.all(result["share_distractors"] == 1) and np.all(result["share_target"] == 0)
    assert np.all(result["pred_pixels"] == visible.max(axis=1))
    # its relations are those of glyph k to the target
    chars = batch.table[:, :, 0]
    assert np.array_equal(result["same_char"], chars[np.arange(len(k)), k - 1] == chars[:, -1])


def test_every_lit_pixel_puts_nothing_on_background(batch) -> None:
    result = _analyse(batch, batch.instance_map > 0)
    assert np.all(result["share_background"] == 0)
    assert np.allclose(result["share_target"] + result["share_distractors"], 1)
    assert np.all(result["chosen"] > 0)


def test_empty_prediction_chooses_nothing(batch) -> None:
    result = _analyse(batch, np.zeros_like(batch.mask))
    assert np.all(result["chosen"] == 0) and not result["detected"].any()
    assert np.all(np.isnan(result["chosen_iou"])) and np.all(np.isnan(result["share_target"]))
    assert np.all(np.isnan(result["distance"]))


def test_background_majority_chooses_nothing(batch) -> None:
    pred = batch.mask | (batch.instance_map == 0)  # background outnumbers the target
    result = _analyse(batch, pred)
    assert np.all(result["chosen"] == 0)
    assert np.all(result["share_background"] > 0.5)


def test_chance_counts_and_difficulty(batch) -> None:
    result = _analyse(batch, batch.mask)
    distractors = (batch.table[:, :-1, T_VISIBLE] > 0).sum(axis=1)
    assert np.array_equal(result["n_distractors"], distractors)
    for name in ("n_same_char", "n_same_alphabet", "n_same_colour", "n_near"):
        assert np.all(result[name] <= result["n_distractors"])
    assert np.array_equal(result["target_clutter"], result["n_near"])
    assert np.array_equal(result["target_visible"], batch.mask.sum(axis=(1, 2)))
    assert np.all(result["target_contrast"] >= 0)


def test_batch_hook_masks_and_merge(batch) -> None:
    pred = batch.mask
    whole = analyze_batch(batch, pred, masks=True)
    assert np.array_equal(unpack_masks(whole["mask_bits"]), batch.mask)
    halves = [
        analyze_batch(batch.__class__(**{**vars(batch), **_slice(batch, part)}), pred[part])
        for part in (slice(12, 24), slice(0, 12))
    ]
    merged = GlyphAnalysis.merge(halves)
    for name in GLYPH_FIELDS:
        np.testing.assert_array_equal(merged[name], whole[name])
    assert np.array_equal(pack_masks(batch.mask), whole["mask_bits"])


def _slice(batch, part: slice) -> dict:
    return {
        name: getattr(batch, name)[part]
        for name in ("index", "scene", "target", "mask", "instance_map", "table")
    }


def _evaluate(synthetic, submission: Path, out: Path, **options) -> Path:
    def open_split(split, level, omniglot, master_seed):
        return load_split(split, level, glyphs=synthetic, master_seed=master_seed)

    settings = {"levels": (4, 16), "samples": 30, "batch_size": 16, "save_masks": True}
    runner.evaluate(
        submission,
        out=out,
        open_split=open_split,
        progress=False,
        memory_limit=None,
        **{**settings, **options},
    )
    return out


@pytest.fixture(scope="module")
def records(synthetic, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("records")
    oracle = folder / "oracle_target.py"
    oracle.write_text(ORACLE_TARGET)
    return {
        "chance": _evaluate(synthetic, ROOT / "submissions" / "chance.py", folder / "chance.json"),
        "oracle": _evaluate(synthetic, oracle, folder / "oracle.json", oracle=True),
    }


ORACLE_TARGET = """
import torch
ORACLE_FIELDS = ("instance_map",)
def make_predictor(device):
    def predict(targets, scenes, oracle):
        instance_map = oracle["instance_map"]
        return instance_map == instance_map.flatten(1).amax(1)[:, None, None]
    return predict
"""


def test_evaluate_stores_the_same_analysis_for_any_batch_size(synthetic, records) -> None:
    other = _evaluate(
        synthetic,
        ROOT / "submissions" / "chance.py",
        records["chance"].with_name("b7.json"),
        batch_size=7,
    )
    stored = []
    for out in (records["chance"], other):
        with np.load(out.with_name(f"{out.stem}.samples.npz")) as data:
            stored.append({k: data[k] for k in data.files})
    first, second = stored
    assert "level4_glyph_chosen" in first and "level16_glyph_mask_bits" in first
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert np.array_equal(first["level16_glyph_index"], first["level16_index"])


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["oneshotbench", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_analyze_json_page_and_decomposition(records, monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "analysis.json"
    code, stdout, _ = cli(
        monkeypatch, capsys, "analyze", str(records["chance"]), str(records["oracle"]),
        "--json", str(out), "--out", str(tmp_path / "page"),
    )  # fmt: skip
    assert code == 0 and "Detection vs segmentation" in stdout
    result = json.loads(out.read_text())
    chance, oracle = result["records"]
    assert chance["record"] == str(records["chance"]) and chance["name"] == "chance"
    record, scores = load_record(records["chance"])
    for level, entry in chance["levels"].items():
        assert set(entry) == {
            "n", "detection_rate", "iou_detected", "iou_missed", "pred_share_target",
            "pred_share_distractors", "pred_share_background", "confusions",
        }  # fmt: skip
        assert entry["n"] == 30
        fractions = [v for k, v in entry.items() if k not in ("n", "confusions")]
        assert all(v is None or 0 <= v <= 1 for v in fractions)
        d = entry["detection_rate"]
        decomposed = d * (entry["iou_detected"] or 0) + (1 - d) * (entry["iou_missed"] or 0)
        assert decomposed == pytest.approx(np.mean(scores[int(level)].iou))
        assert entry["pred_share_background"] == 0  # chance predicts whole coloured pieces
    for entry in oracle["levels"].values():
        visible = entry["detection_rate"]
        assert entry["iou_detected"] == 1 and entry["pred_share_target"] == 1
        assert entry["iou_missed"] in (None, 1)  # only invisible targets are missed
        assert 0.5 < visible <= 1
    page = (tmp_path / "page" / "index.html").read_text()
    assert "0-chance-difficulty.png" in page
    assert "does not match the record" in page  # synthetic glyphs: no gallery
    for suffix in ("png", "svg", "pdf"):
        assert (tmp_path / "page" / f"0-chance-difficulty.{suffix}").stat().st_size > 1000


def test_oracle_normalised_scores(records, synthetic) -> None:
    model, oracle = load_analysed(records["chance"]), load_analysed(records["oracle"])
    ratios = oracle_normalised(model, oracle)
    for level, ratio in ratios.items():
        expected = np.mean(model.scores[int(level)].iou) / np.mean(oracle.scores[int(level)].iou)
        assert ratio == pytest.approx(expected)


def test_default_output_beside_the_record_and_gallery(records, synthetic, tmp_path) -> None:
    def open_split(split, level, version):
        return load_split(split, level, glyphs=synthetic)

    analysed = load_analysed(records["chance"])
    out = default_out_dir(records["chance"])
    assert out == records["chance"].with_name("chance.analysis")
    report = build_report([analysed], out, gallery_size=2, open_split=open_split)
    assert report.index == out / "index.html" and not report.notes
    assert (out / "0-chance-L16-worst.png").is_file()
    private = load_analysed(records["chance"])
    private.record["dataset"]["private"] = True
    report = build_report([private], tmp_path, open_split=open_split)
    assert "private" in report.notes[0] and "secret" in report.notes[0]


def test_records_without_analysis_are_refused(monkeypatch, capsys) -> None:
    old = ROOT / "results" / "chance.json"
    code, _, err = cli(monkeypatch, capsys, "analyze", str(old))
    assert code == 2 and "re-evaluate" in err and "Traceback" not in err


def test_instance_counts_equal_a_bincount_per_sample() -> None:
    from oneshotbench.scoring_kernels import instance_counts

    rng = np.random.default_rng(3)
    instance_map = rng.integers(0, 9, (6, 20, 30)).astype(np.int16)
    pred = rng.random((6, 20, 30)) < np.linspace(0, 1, 6)[:, None, None]
    expected = np.stack(
        [np.bincount(m[p], minlength=9) for m, p in zip(instance_map, pred, strict=True)]
    )
    np.testing.assert_array_equal(instance_counts(instance_map, pred, 9), expected)
