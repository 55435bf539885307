"""The leaderboard web page: escaping, self-containment, and behaviour in a real headless browser.

The browser test drives Debian's chromium through its matching chromedriver (explicit paths, no
Selenium Manager, no network). With ``CI=true`` a missing browser fails the test; elsewhere it
skips with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from test_leaderboard import BASE, entry
from test_records import build_record, synthetic_scores
from typer.testing import CliRunner

from oneshotbench.cli.main import app
from oneshotbench.leaderboard import rank_records
from oneshotbench.leaderboard_page import render_page, write_page
from oneshotbench.records import load_record, write_record

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EVIL = "<script>alert(1)</script>"


def records_on_disk(tmp_path: Path) -> list[Path]:
    """Three records: a leader, a hostile name (worst), and one scored on fewer samples."""
    paths = []
    for stem, ious in (("leader", BASE), ("evil", BASE - 0.2), ("middle", BASE - 0.1)):
        _, record, scores = entry(tmp_path, stem, ious)
        if stem == "leader":  # schema v2 identity keys
            record["sandbox"] = "bubblewrap"
            record["submission"].update(
                tags=["demo"],
                artifacts=[{"path": "w.safetensors", "sha256": "ab" * 32, "bytes": 12}],
                env={"ONESHOTBENCH_CHECKPOINT": "w.safetensors", "HOME": None},
            )
        if stem == "evil":
            record["submission"]["name"] = EVIL
            record["submission"]["tags"] = ["<b>bold</b>"]
        if stem == "middle":
            scores = {lv: synthetic_scores(s.iou[:300]) for lv, s in scores.items()}
            record, _ = build_record(tmp_path, "middle", scores, n_resamples=200)
        paths.append(write_record(tmp_path / f"{stem}.json", record, scores)[0])
    return paths


def test_page_escapes_submitted_text_and_is_self_contained(tmp_path: Path) -> None:
    paths = records_on_disk(tmp_path)
    (tmp_path / "leader.analysis").mkdir()
    (tmp_path / "leader.analysis" / "index.html").write_text("<p>analysis</p>")
    out = tmp_path / "site"
    result = CliRunner().invoke(
        app, ["leaderboard", *map(str, paths), "--common", "--html", str(out), "--resamples", "200"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["index.html"]
    html = (out / "index.html").read_text()
    assert EVIL not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert len(re.findall(r"<script\b", html)) == 2  # the page's own two scripts only
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing remote
    assert "<link" not in html and "<?xml" not in html
    assert html.count("<svg") == 1 and "<text" in html  # the plot inline, its text as text
    assert '<svg role="img" aria-label="IoU and localization' in html
    assert 'href="../leader.analysis/index.html"' in html
    assert f"w.safetensors (12 bytes) sha256 {'ab' * 32}" in html
    assert "ONESHOTBENCH_CHECKPOINT=w.safetensors, HOME" in html
    assert "<dt>sandbox</dt><dd>bubblewrap</dd>" in html
    assert html.count("error analysis</a>") == 1


def test_same_render_twice_is_identical(tmp_path: Path) -> None:
    loaded = [entry(tmp_path, name, BASE - d) for name, d in (("a", 0), ("b", 0.1))]
    board = rank_records(loaded, n_resamples=200)
    assert render_page(board, tmp_path) == render_page(board, tmp_path)


def _driver(user_data: Path):
    """Headless chromium as CI runs it (root: no sandbox), logging the browser console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={user_data}",
        "--window-size=1400,1000",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--metrics-recording-only",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        reason = (
            f"browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    user_data = Path(tempfile.mkdtemp(prefix="oneshotbench-chromium-"))
    driver = _driver(user_data)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(user_data, ignore_errors=True)


def _column(driver, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, css)]


def test_page_in_a_headless_browser(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    paths = records_on_disk(tmp_path)
    loaded = [(str(p), *load_record(p)) for p in paths]
    board = rank_records(loaded, common=True, n_resamples=200)
    page = write_page(board, tmp_path / "site")
    browser.get(page.as_uri())
    assert browser.find_element(By.ID, "page-errors").text == ""
    severe = [log for log in browser.get_log("browser") if log["level"] == "SEVERE"]
    assert severe == []
    names = _column(browser, "#leaderboard tbody th")
    assert names == [e.model for e in board.entries] == ["leader", "middle", EVIL]
    # the numbers shown are the recomputed ones (--common: 300 shared samples per level)
    assert _column(browser, "#leaderboard tbody td.mean") == [
        f"{e.mean_iou:.1f}" for e in board.entries
    ]
    level_cells = _column(browser, "#leaderboard tbody tr:first-child td.level")
    leader = board.entries[0]
    assert level_cells == [
        f"{leader.level_iou[lv]:.1f} ± {(leader.level_ci[lv][1] - leader.level_ci[lv][0]) / 2:.1f}"
        for lv in board.levels
    ]
    assert leader.level_iou[4] == pytest.approx(100 * BASE[0][:300].mean())
    # sorting: by model name (text), then by mean IoU ascending via the header buttons
    headers = browser.find_elements(By.CSS_SELECTOR, "#leaderboard thead th")
    headers[1].find_element(By.TAG_NAME, "button").click()
    assert _column(browser, "#leaderboard tbody th") == sorted(names, key=str.lower)
    assert headers[1].get_attribute("aria-sort") == "ascending"
    assert headers[0].get_attribute("aria-sort") is None
    headers[4].find_element(By.TAG_NAME, "button").click()
    assert _column(browser, "#leaderboard tbody th") == [EVIL, "middle", "leader"]
    headers[4].find_element(By.TAG_NAME, "button").click()
    assert headers[4].get_attribute("aria-sort") == "descending"
    assert _column(browser, "#leaderboard tbody th") == ["leader", "middle", EVIL]
    assert browser.find_element(By.ID, "page-errors").text == ""
    if os.environ.get("ONESHOTBENCH_SCREENSHOT"):
        browser.save_screenshot(os.environ["ONESHOTBENCH_SCREENSHOT"])
