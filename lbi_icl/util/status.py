"""A status line for stages that take seconds without a progress bar to move (loading an
embedder, listing a split's tasks): a spinner with the stage's name on a terminal, a log
line otherwise — so a still screen never looks like a hang."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("lbi_icl")


@contextmanager
def status(text: str, *, enabled: bool | None = None) -> Iterator[None]:
    """Show `text` (e.g. "loading the embedder…") while the block runs; `enabled` None:
    only when stderr is a terminal (piped output and tests stay clean)."""
    log.info("%s", text)
    if not (sys.stderr.isatty() if enabled is None else enabled):
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text, spinner="dots"):
        yield
