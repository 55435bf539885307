"""The leaderboard as one self-contained web page: ``DIR/index.html`` and no other file.

The page is rendered from a :class:`~oneshotbench.leaderboard.Leaderboard` with a Jinja2
template shipped as package data (``templates/leaderboard.html.j2``), autoescaped: submission
names, tags and paths are text from submitters and never become markup. CSS, the sorting
script and the Fig. 4-style plot (SVG, text kept as text) are inline, so the page fetches
nothing and works from ``file://``. Where an analysis page ``<record stem>.analysis/index.html``
sits beside a record, the record's details link to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from oneshotbench.figures import inline_svg
from oneshotbench.leaderboard import (
    ALPHA,
    Entry,
    Leaderboard,
    board_header,
    ci_cell,
    format_n,
    format_p,
)
from oneshotbench.reports import report_figure, write_files
from oneshotbench.rows import FLAG_TEXT, submission_name


def _environment() -> Environment:
    # autoescape=True whatever the template's name (a ".j2" suffix defeats select_autoescape)
    return Environment(
        loader=PackageLoader("oneshotbench", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def _analysis_link(source: str, out_dir: Path) -> str | None:
    """Relative URL of the analysis page of the record at ``source``, if one exists."""
    record = Path(source)
    page = record.with_name(f"{record.stem}.analysis") / "index.html"
    if not page.is_file():
        return None
    relative = os.path.relpath(page.resolve(), Path(out_dir).resolve())
    return quote(Path(relative).as_posix())


def _env_text(env: dict | list | None) -> str | None:
    """Environment variables passed to the submission: names, and values where recorded."""
    if env is None:
        return None
    if isinstance(env, dict):
        return ", ".join(k if v is None else f"{k}={v}" for k, v in env.items()) or "none"
    return ", ".join(map(str, env)) or "none"


def _record_details(record: dict, source: str, out_dir: Path) -> dict:
    """What the page shows of one record (v1 records read with v2 defaults)."""
    submission = record.get("submission", {})
    data = record.get("dataset", {})
    invariance = record.get("invariance")
    return {
        "source": source,
        "analysis": _analysis_link(source, out_dir),
        "name": submission_name(record),
        "tags": list(submission.get("tags", [])),
        "file": submission.get("file"),
        "sha256": submission.get("sha256"),
        "artifacts": list(submission.get("artifacts", [])),
        "files": dict(submission.get("files", {})),
        "parameters": submission.get("parameters"),
        "env": _env_text(submission.get("env")),
        "created": record.get("created"),
        "oracle": bool(record.get("oracle")),
        "sandbox": record.get("sandbox", "none"),
        "invariance": (
            "not checked"
            if not invariance
            else ("flagged" if invariance.get("flagged") else "passed")
            + f" (largest probability deviation {invariance.get('max_prob_deviation')})"
        ),
        "dataset": {k: data.get(k) for k in ("name", "version", "split", "private")},
        "fingerprints": dict(data.get("fingerprints", {})),
        "levels": [(int(e["level"]), int(e["n"])) for e in record.get("levels", [])],
        "per_sample": record.get("per_sample", {}).get("sha256"),
        "environment": dict(record.get("environment") or {}),
    }


def _row(entry: Entry, levels: tuple[int, ...], out_dir: Path) -> dict:
    records = entry.record.get("parts") or [entry.record]
    sources = entry.source.split(" + ")
    return {
        "rank": entry.rank,
        "model": entry.model,
        "flags": [{"name": flag, "text": FLAG_TEXT[flag]} for flag in entry.flags],
        "n": format_n(entry.level_n),
        "n_total": sum(entry.level_n.values()),
        "mean": entry.mean_iou,
        "levels": [
            {
                "value": entry.level_iou[lv],
                "text": ci_cell(entry.level_iou[lv], entry.level_ci[lv]),
                "low": entry.level_ci[lv][0],
                "high": entry.level_ci[lv][1],
            }
            for lv in levels
        ],
        "delta": entry.delta,
        "p": entry.p_value,
        "p_text": format_p(entry.p_value),
        "significant": {None: "", True: "yes", False: "no"}[entry.significant],
        "details": [
            _record_details(record, source, out_dir)
            for record, source in zip(records, sources, strict=True)
        ],
    }


def render_page(board: Leaderboard, out_dir: Path) -> str:
    """The page's HTML; ``out_dir`` is where it will live (for relative links)."""
    figure = report_figure([entry.record for entry in board.entries])
    label = f"IoU and localization accuracy against clutter level, {board.title}"
    svg = inline_svg(figure, salt="leaderboard-fig4", label=label)
    template = _environment().get_template("leaderboard.html.j2")
    return template.render(
        header=board_header(board),
        title=board.title,
        levels=board.levels,
        n=format_n(board.n),
        common=board.common,
        left_out=board.left_out,
        alpha=ALPHA,
        rows=[_row(entry, board.levels, out_dir) for entry in board.entries],
        figure=Markup(svg),  # produced here by matplotlib, which escapes its text itself
        flag_text=FLAG_TEXT,
    )


def write_page(board: Leaderboard, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` (the only file) and return its path."""
    html = render_page(board, Path(out_dir))
    (path,) = write_files({"index.html": html.encode("utf-8")}, Path(out_dir))
    return path
