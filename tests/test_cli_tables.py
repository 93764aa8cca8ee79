"""CLI tables wrap instead of cutting (no "observati…"), and print at full width when piped
or with --wide."""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console
from rich.table import Table

from lbi_icl.cli import main as cli_main
from lbi_icl.commands.tables import print_table, set_wide, table_console

LONG = "observation-based retrieval with a long name"


def _table() -> Table:
    t = Table(title="t")
    for col in ("strategy", "success 95% CI", "observation p50 ms"):
        t.add_column(col)
    t.add_row(LONG, "[100.0, 100.0]", "12.5")
    return t


def test_a_narrow_terminal_wraps_every_cell_and_header():
    buf = io.StringIO()
    print_table(_table(), console=Console(file=buf, width=30, color_system=None))
    text = buf.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 30
    # every character of every header and cell is printed somewhere (wrapped, not cut)
    shown = Counter(text)
    wanted = Counter("".join(["t", "strategy", "success 95% CI", "observation p50 ms", LONG,
                              "[100.0, 100.0]", "12.5"]).replace(" ", ""))  # fmt: skip
    assert not wanted - shown


def test_pipes_and_wide_get_full_width_rows(capsys):
    set_wide(False)
    assert table_console().width > 1000  # stdout is captured: not a terminal
    print_table(_table())
    out = capsys.readouterr().out
    assert any(LONG in line and "[100.0, 100.0]" in line for line in out.splitlines())
    assert cli_main(["envs", "--wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("pip install" in ln for ln in lines) and not any("…" in ln for ln in lines)
    set_wide(False)
