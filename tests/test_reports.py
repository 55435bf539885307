"""Report tables (exact Markdown / CSV / LaTeX), Fig. 4-style plots and the `report` command."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_records import DATASET, build_record, synthetic_scores
from typer.testing import CliRunner

from oneshotbench.cli.main import app, main
from oneshotbench.errors import OneshotbenchError
from oneshotbench.records import write_record
from oneshotbench.reports import (
    TABLES,
    scores_figure,
    table_csv,
    table_latex,
    table_markdown,
    write_report,
)


def level(lv: int, iou: float, loc: float, half: float = 1.25) -> dict:
    return {
        "level": lv,
        "n": 100,
        "iou": iou,
        "iou_ci": [iou - half, iou + half],
        "loc": loc,
        "loc_ci": [loc - 2, loc + 1],
        "loc_strict": loc - 1,
        "loc_strict_ci": [loc - 3, loc],
    }


DATA = {"name": "cluttered-omniglot", "version": 1, "split": "test-one-shot", "private": False}
PAIR = [
    {
        "submission": {"name": "unet"},
        "oracle": False,
        "dataset": DATA,
        "levels": [level(4, 62.24, 80.0), level(8, 50.0, 70.04)],
    },
    {
        "submission": {"name": "pre_seg"},
        "oracle": True,
        "dataset": DATA,
        "levels": [level(4, 90.0, 99.6, half=0.5), level(8, 85.55, 99.2), level(16, 80.0, 98.9)],
    },
]


def test_table1_markdown() -> None:
    assert table_markdown(PAIR, TABLES[0]) == (
        "### Table 1: segmentation accuracy (IoU, %) — cluttered-omniglot v1, test-one-shot\n"
        "\n"
        "| model | 4 | 8 | 16 |\n"
        "|---|---:|---:|---:|\n"
        "| unet | 62.2 ± 1.2 | 50.0 ± 1.2 | – |\n"
        "| pre_seg (oracle) | 90.0 ± 0.5 | 85.5 ± 1.2 | 80.0 ± 1.2 |\n"
    )


def test_table2_markdown_uses_the_localization_scores() -> None:
    lines = table_markdown(PAIR, TABLES[1]).splitlines()
    assert lines[0].startswith("### Table 2: localization accuracy (%)")
    assert lines[4:] == [
        "| unet | 80.0 ± 1.5 | 70.0 ± 1.5 | – |",
        "| pre_seg (oracle) | 99.6 ± 1.5 | 99.2 ± 1.5 | 98.9 ± 1.5 |",
    ]


def test_table_csv_has_exact_interval_columns() -> None:
    assert table_csv(PAIR, TABLES[0]) == (
        "model,oracle,4,4_ci_low,4_ci_high,8,8_ci_low,8_ci_high,16,16_ci_low,16_ci_high\n"
        "unet,False,62.2400,60.9900,63.4900,50.0000,48.7500,51.2500,,,\n"
        "pre_seg (oracle),True,90.0000,89.5000,90.5000,85.5500,84.3000,86.8000,"
        "80.0000,78.7500,81.2500\n"
    )


def test_table_latex() -> None:
    records = [PAIR[0], {**PAIR[1], "submission": {"name": "pre_seg & co"}}]
    assert table_latex(records, TABLES[2]) == (
        "% Table 2b: localization accuracy, an empty prediction is a miss (%)\n"
        "\\begin{tabular}{lrrr}\n"
        "\\toprule\n"
        "Model & 4 & 8 & 16 \\\\\n"
        "\\midrule\n"
        "unet & 79.0 $\\pm$ 1.5 & 69.0 $\\pm$ 1.5 & -- \\\\\n"
        "pre\\_seg \\& co (oracle) & 98.6 $\\pm$ 1.5 & 98.2 $\\pm$ 1.5 & 97.9 $\\pm$ 1.5 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_paper_rows_sit_beside_the_records_at_their_levels() -> None:
    lines = table_markdown(PAIR, TABLES[0], paper=True).splitlines()
    assert lines[6] == "| paper: pattern matching | 62.2 | 50.4 | 41.7 |"
    assert "| paper: masknet untargeted | – | – | – |" not in lines  # published only from 32 on
    assert lines[-1] == "| paper: masknet | 95.8 | 90.5 | 79.3 |"
    loc = table_markdown(PAIR, TABLES[1], paper=True).splitlines()
    assert [line.split(" | ")[0] for line in loc[6:]] == [
        "| paper: p-seg. discriminator",
        "| paper: clutt. discriminator",
        "| paper: masknet",
    ]
    strict = table_markdown(PAIR, TABLES[2], paper=True)
    assert "paper:" not in strict  # the paper has no strict localization
    csv_line = table_csv(PAIR, TABLES[0], paper=True).splitlines()[3]
    assert csv_line == "paper: pattern matching,True,62.2000,,,50.4000,,,41.7000,,"
    figure = scores_figure(PAIR, paper=True)
    styles = {line.get_label(): line.get_linestyle() for line in figure.axes[0].get_lines()}
    assert styles["paper: siamese u-net"] == ":" and styles["unet"] == "-"


def test_duplicate_model_names_are_numbered() -> None:
    lines = table_markdown([PAIR[0], PAIR[0]], TABLES[0]).splitlines()
    assert [line.split(" | ")[0] for line in lines[4:]] == ["| unet", "| unet #2"]


def test_figure_has_log2_axes_one_line_per_model_and_bands() -> None:
    figure = scores_figure(PAIR)
    iou_ax, loc_ax = figure.axes
    assert iou_ax.get_xscale() == "log" and list(iou_ax.get_xticks()) == [4, 8, 16]
    assert [line.get_label() for line in iou_ax.get_lines()] == ["unet", "pre_seg (oracle)"]
    assert [line.get_linestyle() for line in iou_ax.get_lines()] == ["-", "--"]
    assert len(iou_ax.collections) == 2 and len(loc_ax.collections) == 2
    assert list(loc_ax.get_lines()[1].get_ydata()) == [99.6, 99.2, 98.9]


def test_write_report_files(tmp_path: Path) -> None:
    written = write_report(PAIR, tmp_path / "rep", formats=("md", "csv"))
    names = sorted(p.name for p in written)
    assert names == sorted(
        [f"{spec.stem}.{ext}" for spec in TABLES for ext in ("md", "csv")]
        + ["scores.png", "scores.svg"]
    )
    with Image.open(tmp_path / "rep" / "scores.png") as image:
        assert image.format == "PNG" and image.size == (1500, 600)
    assert ET.parse(tmp_path / "rep" / "scores.svg").getroot().tag.endswith("svg")
    assert (tmp_path / "rep" / "table1_iou.md").read_text() == table_markdown(PAIR, TABLES[0])


def test_write_report_to_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OneshotbenchError, match="cannot write .*file/table1_iou.md"):
        write_report(PAIR, blocker, formats=("md",), plots=False)


@pytest.fixture
def record_files(tmp_path: Path) -> list[Path]:
    paths = []
    for name, ious in (("good", np.linspace(0.5, 1, 30)), ("bad", np.linspace(0, 0.5, 30))):
        per_sample = {4: synthetic_scores(ious), 8: synthetic_scores(ious[::-1])}
        record, _ = build_record(tmp_path, name, per_sample, n_resamples=200)
        paths.append(write_record(tmp_path / f"{name}.json", record, per_sample)[0])
    return paths


def test_report_command_prints_tables_and_writes_files(
    record_files: list[Path], tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["report", *map(str, record_files), "--out", str(tmp_path / "rep"), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert "Table 1: segmentation accuracy" in result.output and "good" in result.output
    assert "wrote 5 files" in result.output
    assert (tmp_path / "rep" / "table2_localization.csv").read_text().startswith("model,oracle,4,")


def run_main(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["oneshotbench", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return done.value.code


def test_report_refuses_mismatched_records(
    record_files: list[Path], tmp_path: Path, monkeypatch, capsys
) -> None:
    per_sample = {4: synthetic_scores(np.ones(30))}
    other, _ = build_record(
        tmp_path, "other", per_sample, dataset=dict(DATASET, split="test-train"), n_resamples=200
    )
    other_path = write_record(tmp_path / "other.json", other, per_sample)[0]
    assert run_main(monkeypatch, ["report", str(record_files[0]), str(other_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot report records that differ" in err and "Traceback" not in err
    assert "good.json has 'test-one-shot'" in err and "other.json has 'test-train'" in err


def test_report_rejects_unknown_format(record_files: list[Path], monkeypatch, capsys) -> None:
    assert run_main(monkeypatch, ["report", str(record_files[0]), "--format", "md,pdf"]) == 2
    assert "unknown report format pdf; choose from md, csv, tex" in capsys.readouterr().err
