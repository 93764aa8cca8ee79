"""How the CLI prints `rich` tables: every column wraps its text (never "observati…", never a
cell cut at the terminal's edge), at the terminal's width on a terminal, and at full width,
unwrapped, when the output goes to a pipe or a file or `--wide` is given."""

from __future__ import annotations

import shutil
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from lbi_icl.cli import set_wide_tables, wide_tables

FULL_WIDTH = 100_000  # "as wide as the table needs": rich never pads a table to the console


def set_wide(on: bool) -> None:
    """`--wide`: tables at full width even on a terminal (the flag lives in lbi_icl.cli)."""
    set_wide_tables(on)


def table_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if wide_tables() or not stream.isatty():
        return Console(width=FULL_WIDTH, stderr=stderr, soft_wrap=False)
    return Console(width=shutil.get_terminal_size().columns, stderr=stderr)


def print_table(table: Table, *, stderr: bool = False, console: Console | None = None) -> None:
    """Print `table` with wrapping columns (see the module docstring)."""
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = False
    (console or table_console(stderr=stderr)).print(table)


def print_text(*parts: Any, stderr: bool = False) -> None:
    """A line through the same console (so `--wide` and pipes behave alike)."""
    table_console(stderr=stderr).print(*parts)
