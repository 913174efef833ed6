"""Rich progress bars on stderr (``show=False`` hides them, e.g. for ``--json`` output or worker processes)."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


class progress_bar(Progress):  # noqa: N801 - used like a function: `with progress_bar(show) as bar:`
    """A progress bar with a free-text ``status`` field (loss, accuracy…) after the timing columns."""

    def __init__(self, show: bool = True):
        super().__init__(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                         console=console, disable=not show, refresh_per_second=4)

    def add_task(self, description: str, **kwargs):
        kwargs.setdefault("status", "")
        return super().add_task(description, **kwargs)
