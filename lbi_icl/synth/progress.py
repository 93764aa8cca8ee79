"""The progress bar of `synthesize` (rich, on stderr)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lbi_icl.synth.config import SynthReport


@contextlib.contextmanager
def synth_progress(enabled: bool, total: int, done: int) -> Iterator[Any]:
    """A rich progress bar over tasks (stderr); yields an update(report) callback."""
    if not enabled:
        yield lambda report: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]synthesize"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
    ) as prog:
        bar = prog.add_task("", total=total, completed=done)

        def update(report: SynthReport) -> None:
            c = report.counts
            prog.update(
                bar,
                completed=report.tasks_done,
                description=(
                    f"raw {c['raw_trajectories']} · windows {c['windows']} · "
                    f"backward {c['examples_backward']} · kept {c['examples_final']}"
                ),
            )

        yield update
