"""The episodes progress bar of `run_experiment` (rich, on stderr)."""

from __future__ import annotations

from typing import Any


class EpisodeProgress:
    """A rich progress bar showing success so far; a no-op when disabled."""

    def __init__(self, *, total: int, done: int, successes: int, enabled: bool):
        self.total, self.done, self.successes, self.enabled = total, done, successes, enabled
        self._progress: Any = None
        self._task: Any = None

    def _label(self) -> str:
        rate = f"{100 * self.successes / self.done:.0f}%" if self.done else "-"
        return f"success {self.successes}/{self.done} ({rate})"

    def __enter__(self) -> EpisodeProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("episodes"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[label]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "run", total=self.total, completed=self.done, label=self._label()
            )
        return self

    def advance(self, success: bool) -> None:
        self.done += 1
        self.successes += int(success)
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, label=self._label())

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
