"""`lbi report`: per-strategy results with 95 % CIs and paired tests against `none`.

Numbers come from the latest record per episode key, so resumed and retried runs never
double count. Success rate, score and steps are over finished episodes (errored episodes
are counted in their own column and excluded, since an infrastructure error says nothing
about the strategy); tokens and cost are per recorded episode, errors included, because
they were spent.

Modules: `report_data.py` (the numbers), `report_text.py` (md, csv, json, terminal
table), `report_html.py` (the HTML page); this module picks the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.runner.report_data import (
    BASELINE,
    RETRIEVAL_LABEL,
    PairedRow,
    Report,
    StrategyRow,
    build_report,
    paired_row,
    policy_label,
    strategy_row,
)
from lbi_icl.runner.report_html import to_html
from lbi_icl.runner.report_text import rich_table, table_rows, to_csv, to_json, to_markdown

__all__ = [
    "BASELINE",
    "RETRIEVAL_LABEL",
    "Format",
    "PairedRow",
    "Report",
    "StrategyRow",
    "build_report",
    "paired_row",
    "policy_label",
    "report",
    "rich_table",
    "strategy_row",
    "table_rows",
    "to_csv",
    "to_html",
    "to_json",
    "to_markdown",
]

Format = Literal["md", "csv", "json", "html"]


def report(run_dir: str | Path, fmt: Format = "md") -> str:
    """Render a run's report; `html` is also written to <run>/report.html."""
    rep = build_report(run_dir)
    if fmt == "md":
        return to_markdown(rep)
    if fmt == "csv":
        return to_csv(rep)
    if fmt == "json":
        return to_json(rep)
    if fmt == "html":
        text = to_html(rep)
        atomic_write_text(Path(run_dir) / "report.html", text)
        return text
    raise ValueError(f"unknown report format {fmt!r}; choose md, csv, json or html")
