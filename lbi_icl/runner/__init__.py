"""Experiment runner: run/ablate grids into resumable run directories, report, export."""

from __future__ import annotations

from lbi_icl.runner.config import ConfigError, RunConfig, build_config, load_config_file
from lbi_icl.runner.export import export_run
from lbi_icl.runner.report import Report, build_report, report
from lbi_icl.runner.run import RunSummary, run_experiment
from lbi_icl.runner.runlog import EpisodeRecord, latest_records, read_records

__all__ = [
    "ConfigError",
    "EpisodeRecord",
    "Report",
    "RunConfig",
    "RunSummary",
    "build_config",
    "build_report",
    "export_run",
    "latest_records",
    "load_config_file",
    "read_records",
    "report",
    "run_experiment",
]
