"""`lbi view --serve` while a run is writing: a background thread that rebuilds the view
when a run's episodes.jsonl (or manifest.json) changes.

Every `interval` seconds it compares the size and mtime of the watched files (for a folder
of runs: those of every run found, so a new run appears too) and, when any changed, calls
`rebuild` (the incremental build: only new or changed episodes are read). The page, served
over http, re-reads data/meta.js every few seconds and redraws when its `generated_at`
changes (static/live.js). A failed rebuild is reported and retried at the next change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

WATCHED = ("episodes.jsonl", "manifest.json")


def file_state(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        for name in WATCHED:
            try:
                st = (p / name).stat()
            except OSError:
                continue
            out.append((str(p / name), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


class LiveRebuilder(threading.Thread):
    """Poll `runs()` (the run directories to watch) and call `rebuild()` on a change."""

    def __init__(
        self,
        runs: Callable[[], list[Path]],
        rebuild: Callable[[], str],
        *,
        interval: float = 2.0,
        report: Callable[[str], None] = print,
    ) -> None:
        super().__init__(name="lbi-view-live", daemon=True)
        self.runs = runs
        self.rebuild = rebuild
        self.interval = interval
        self.report = report
        self.stopped = threading.Event()
        self.rebuilds = 0
        self.state = self._state()

    def _state(self) -> tuple[tuple[str, int, int], ...]:
        try:
            return file_state(self.runs())
        except OSError as e:
            log.debug("live view: cannot list runs: %s", e)
            return ()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            state = self._state()
            if state == self.state:
                continue
            self.state = state
            try:
                said = self.rebuild()
            except Exception as e:  # a half-written run must not stop serving
                self.report(f"live: rebuild failed ({type(e).__name__}: {e}); retrying on change")
                continue
            self.rebuilds += 1
            self.report(f"live: {said}")

    def stop(self) -> None:
        self.stopped.set()
