"""A rich progress bar with throughput, shared by the long-running commands.

On a console that is not a terminal (a log file, ``nohup``, CI) rich draws nothing until the end,
so an hour-long ``evaluate`` would leave an empty log; there the bar also prints one plain line
per task at every tenth of its total.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(TextColumn):
    """Samples per second of a task."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="cyan")


class LoggedProgress(Progress):
    """Progress that also logs milestones as plain lines when its console is not a terminal."""

    TENTHS = 10

    def __init__(self, *columns, **kwargs) -> None:
        super().__init__(*columns, **kwargs)
        self._logged: dict[int, int] = {}

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def _log(self, task_id) -> None:
        if self.console.is_terminal:
            return
        task = next(t for t in self.tasks if t.id == task_id)
        if not task.total:
            return
        tenth = math.floor(self.TENTHS * min(task.completed / task.total, 1.0))
        if tenth <= self._logged.get(task_id, 0):
            return
        self._logged[task_id] = tenth
        speed = task.finished_speed or task.speed
        rate = "" if speed is None else f", {speed:,.0f}/s"
        self.console.print(
            f"{task.description}: {task.completed:,.0f}/{task.total:,.0f} "
            f"({100 * task.completed / task.total:.0f} %){rate}, {task.elapsed or 0:.0f} s",
            markup=False,
            highlight=False,
        )


def progress_bar(console: Console | None = None) -> Progress:
    """Progress with description, bar, count, percentage, rate, elapsed and remaining time."""
    return LoggedProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
