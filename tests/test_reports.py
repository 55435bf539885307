"""Report tables (exact Markdown / CSV / LaTeX), Fig. 4-style plots and the `report` command."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image
from test_records import DATASET, build_record, synthetic_scores
from typer.testing import CliRunner

from oneshotbench.cli.main import app, main
from oneshotbench.errors import OneshotbenchError
from oneshotbench.records import write_record
from oneshotbench.reports import (
    TABLES,
    report_figure,
    table_csv,
    table_latex,
    table_markdown,
    write_report,
)


def level(lv: int, iou: float, loc: float, half: float = 1.25, n: int = 100) -> dict:
    return {
        "level": lv,
        "n": n,
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
        "levels": [
            level(4, 90.0, 99.6, half=0.5),
            level(8, 85.55, 99.2),
            level(16, 80.0, 98.9, n=1200),
        ],
    },
]


def test_table1_markdown() -> None:
    assert table_markdown(PAIR, TABLES[0]) == (
        "### Table 1: segmentation accuracy (IoU, %) — cluttered-omniglot v1, test-one-shot\n"
        "\n"
        "| model | n | 4 | 8 | 16 |\n"
        "|:---|:---|---:|---:|---:|\n"
        "| unet | 100 | 62.2 ± 1.2 | 50.0 ± 1.2 | – |\n"
        "| pre_seg (oracle) | 100–1,200 | 90.0 ± 0.5 | 85.5 ± 1.2 | 80.0 ± 1.2 |\n"
    )


def test_table2_markdown_uses_the_localization_scores() -> None:
    lines = table_markdown(PAIR, TABLES[1]).splitlines()
    assert lines[0].startswith("### Table 2: localization accuracy (%)")
    assert lines[4:] == [
        "| unet | 100 | 80.0 ± 1.5 | 70.0 ± 1.5 | – |",
        "| pre_seg (oracle) | 100–1,200 | 99.6 ± 1.5 | 99.2 ± 1.5 | 98.9 ± 1.5 |",
    ]


def test_table_csv_has_exact_interval_columns() -> None:
    assert table_csv(PAIR, TABLES[0]) == (
        "model,oracle,4,4_ci_low,4_ci_high,n_4,8,8_ci_low,8_ci_high,n_8,16,16_ci_low,16_ci_high,"
        "n_16\n"
        "unet,False,62.2400,60.9900,63.4900,100,50.0000,48.7500,51.2500,100,,,,\n"
        "pre_seg (oracle),True,90.0000,89.5000,90.5000,100,85.5500,84.3000,86.8000,100,"
        "80.0000,78.7500,81.2500,1200\n"
    )


def test_table_latex() -> None:
    records = [PAIR[0], {**PAIR[1], "submission": {"name": "pre_seg & co"}}]
    assert table_latex(records, TABLES[2]) == (
        "% Table 2b: localization accuracy, an empty prediction is a miss (%)\n"
        "\\begin{tabular}{llrrr}\n"
        "\\toprule\n"
        "Model & n & 4 & 8 & 16 \\\\\n"
        "\\midrule\n"
        "unet & 100 & 79.0 $\\pm$ 1.5 & 69.0 $\\pm$ 1.5 & -- \\\\\n"
        "pre\\_seg \\& co (oracle) & 100–1,200 & 98.6 $\\pm$ 1.5 & 98.2 $\\pm$ 1.5 & "
        "97.9 $\\pm$ 1.5 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_paper_rows_sit_beside_the_records_at_their_levels() -> None:
    lines = table_markdown(PAIR, TABLES[0], paper=True).splitlines()
    assert lines[6] == "| paper: pattern matching (oracle) | – | 62.2 | 50.4 | 41.7 |"
    assert not any("masknet untargeted" in line for line in lines)  # published from 32 on
    assert lines[-1] == "| paper: masknet | – | 95.8 | 90.5 | 79.3 |"
    loc = table_markdown(PAIR, TABLES[1], paper=True).splitlines()
    assert [line.split(" | ")[0] for line in loc[6:]] == [
        "| paper: p-seg. discriminator (oracle)",
        "| paper: clutt. discriminator (oracle)",
        "| paper: masknet",
    ]
    strict = table_markdown(PAIR, TABLES[2], paper=True)
    assert "paper:" not in strict  # the paper has no strict localization
    csv_line = table_csv(PAIR, TABLES[0], paper=True).splitlines()[3]
    assert csv_line == "paper: pattern matching (oracle),True,62.2000,,,,50.4000,,,,41.7000,,,"


def test_duplicate_model_names_are_numbered() -> None:
    lines = table_markdown([PAIR[0], PAIR[0]], TABLES[0]).splitlines()
    assert [line.split(" | ")[0] for line in lines[4:]] == ["| unet", "| unet #2"]


def styles(ax) -> dict[str, tuple]:
    """Label -> (colour, marker, line style) of every line of an axes."""
    return {
        line.get_label(): (to_hex(line.get_color()), line.get_marker(), line.get_linestyle())
        for line in ax.get_lines()
    }


def test_figure_has_log2_axes_one_line_per_model_and_bands() -> None:
    figure = report_figure(PAIR)
    iou_ax, loc_ax = figure.axes
    assert iou_ax.get_xscale() == "log" and list(iou_ax.get_xticks()) == [4, 8, 16]
    assert list(styles(iou_ax)) == ["unet (n=100)", "pre_seg (oracle) (n=100–1,200)"]
    assert [line.get_linestyle() for line in iou_ax.get_lines()] == ["-", "--"]
    assert len(iou_ax.collections) == 2 and len(loc_ax.collections) == 2
    assert list(loc_ax.get_lines()[1].get_ydata()) == [99.6, 99.2, 98.9]
    assert iou_ax.get_ylim()[0] < 0  # a zero score is drawn above the x axis


def test_figure_one_style_per_model_in_both_panels_and_one_legend_outside() -> None:
    tiny = {**PAIR[0], "submission": {"name": "siamese_unet"}, "levels": [level(4, 24.0, 30.0)]}
    figure = report_figure([tiny, *PAIR], paper=True)
    iou_ax, loc_ax = figure.axes
    iou, loc = styles(iou_ax), styles(loc_ax)
    for label in set(iou) & set(loc):
        assert iou[label] == loc[label]
    drawn = {**iou, **loc}
    assert len({style[:2] for style in drawn.values()}) == len(drawn)  # colour+marker unique
    assert drawn["paper: siamese u-net (published)"][2] == ":"
    paper_colour = drawn["paper: siamese u-net (published)"][0]
    (errorbar,) = iou_ax.containers  # the single-level record: a point with error bars
    assert to_hex(errorbar.lines[0].get_color()) == paper_colour
    assert errorbar.get_label() == "siamese_unet (n=100)"
    legend = figure.legends[0]
    assert not iou_ax.get_legend() and not loc_ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "paper: clutt. discriminator (oracle) (published)" in texts  # only in the right panel
    assert "siamese_unet (n=100)" in texts
    figure.draw_without_rendering()  # runs the constrained layout
    box = legend.get_window_extent()
    for ax in (iou_ax, loc_ax):
        assert not box.overlaps(ax.get_window_extent())


def test_write_report_files(tmp_path: Path) -> None:
    written = write_report(PAIR, tmp_path / "rep", formats=("md", "csv"))
    names = sorted(p.name for p in written)
    assert names == sorted(
        [f"{spec.stem}.{ext}" for spec in TABLES for ext in ("md", "csv")]
        + ["scores.png", "scores.pdf", "scores.svg"]
    )
    with Image.open(tmp_path / "rep" / "scores.png") as image:
        assert image.format == "PNG" and image.size == (1950, 720)
    svg = ET.parse(tmp_path / "rep" / "scores.svg").getroot()
    assert svg.tag.endswith("svg")
    texts = ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert "number of characters in the scene" in texts  # text, not outlines: editable
    assert (tmp_path / "rep" / "scores.pdf").read_bytes().startswith(b"%PDF")
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
    assert "wrote 6 files" in result.output
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


def test_records_of_one_model_at_different_levels_form_one_row() -> None:
    per_level = [{**PAIR[0], "levels": [entry]} for entry in PAIR[0]["levels"]]
    assert table_markdown(per_level, TABLES[0]) == table_markdown([PAIR[0]], TABLES[0])
    overlapping = table_markdown([PAIR[0], per_level[1]], TABLES[0]).splitlines()
    assert [line.split(" | ")[0] for line in overlapping[4:]] == ["| unet", "| unet #2"]
    oracle_part = {**per_level[1], "oracle": True}
    split = table_markdown([per_level[0], oracle_part], TABLES[0]).splitlines()
    assert [line.split(" | ")[0] for line in split[4:]] == ["| unet", "| unet (oracle)"]


def test_report_command_prints_names_literally(tmp_path: Path) -> None:
    per_sample = {4: synthetic_scores(np.linspace(0, 1, 30))}
    record, _ = build_record(tmp_path, "markup", per_sample, n_resamples=200)
    record["submission"]["name"] = "**[red]x[/red]**"
    path = write_record(tmp_path / "markup.json", record, per_sample)[0]
    result = CliRunner().invoke(app, ["report", str(path)])
    assert result.exit_code == 0, result.output
    assert "**[red]x[/red]**" in result.output


def test_results_go_to_files_and_pipes_unwrapped(monkeypatch) -> None:
    """rich wraps a non-terminal at 80 columns, which broke report rows a letter per line."""
    from oneshotbench.cli import UNWRAPPED_WIDTH, results_console

    monkeypatch.delenv("COLUMNS", raising=False)
    assert results_console().width == UNWRAPPED_WIDTH  # pytest captures stdout: not a terminal
    monkeypatch.setenv("COLUMNS", "100")
    assert results_console().width == 100  # the user's word wins
