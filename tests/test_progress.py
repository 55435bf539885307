"""Progress on a console that is not a terminal: plain milestone lines instead of silence."""

from __future__ import annotations

import io

from rich.console import Console

from oneshotbench.progress import progress_bar


def test_a_log_file_gets_a_line_at_every_tenth_crossed() -> None:
    log = io.StringIO()
    with progress_bar(Console(file=log, force_terminal=False, width=100)) as bar:
        task = bar.add_task("level [4]", total=1000)
        for _ in range(8):
            bar.advance(task, 125)
        unsized = bar.add_task("stream", total=None)
        bar.advance(unsized, 5)
    lines = [line for line in log.getvalue().splitlines() if line.startswith("level [4]: ")]
    counts = [line.split(": ")[1].split(" ")[0] for line in lines]
    assert counts == ["125/1,000", "250/1,000", "375/1,000", "500/1,000", "625/1,000",
                      "750/1,000", "875/1,000", "1,000/1,000"]  # fmt: skip
    assert "(100 %)" in lines[-1] and "[4]" in lines[-1]  # literal text, never markup
    assert "stream:" not in log.getvalue()  # no total, no milestones


def test_a_terminal_gets_only_the_bar() -> None:
    screen = io.StringIO()
    with progress_bar(Console(file=screen, force_terminal=True, width=100)) as bar:
        task = bar.add_task("level 4", total=10)
        bar.advance(task, 10)
    assert "level 4: " not in screen.getvalue()
