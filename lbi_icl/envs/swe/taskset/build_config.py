"""The task-set build's settings (`BuildConfig`) and the reports it writes
(`ProjectReport` per project, `BuildReport` for the whole build): the data `build.py` and
`project.py` share, in a module below both so neither imports the other back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _default_workers() -> int:
    return os.cpu_count() or 2


class BuildConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path
    spec: Path | None = None  # default: the packaged projects.json
    seed: int = 0
    per_project: int = Field(default=30, ge=1, description="instances kept per project")
    max_candidates: int = Field(default=70, ge=1, description="single mutants tried per project")
    max_per_function: int = Field(default=4, ge=1, description="distinct kinds")
    max_test_files: int = Field(default=3, ge=1, description="test files run per mutant")
    combined: float = Field(
        default=0.2, ge=0.0, le=1.0, description="share of instances that combine 2-3 mutations"
    )
    max_failing_tests: int = Field(
        default=15, ge=1, description="failing test functions per instance (ids of one count once)"
    )
    workers: int = Field(default_factory=_default_workers, ge=1, description="test runs at once")
    runner: Literal["fork", "subprocess"] = "fork"
    projects: list[str] | None = None  # subset of the spec's projects
    cache_dir: Path | None = None  # sdists and virtualenvs (default ~/.cache/lbi_icl/swe)
    llm: str | None = None  # problem statements by this LLM (spec, for the record)
    llm_splits: list[str] | None = None  # the splits whose statements the LLM writes (all)
    # prompt template overrides of the statement writer (swe_statement_*; lbi_icl/prompts)
    prompts: dict[str, str] = Field(default_factory=dict)


class ProjectReport(BaseModel):
    name: str
    split: str
    candidates: int = 0
    combined_candidates: int = 0
    tried: int = 0
    kept: int = 0
    baseline_tests: int = 0
    unstable_tests: int = 0  # test functions left out: ids or outcomes differ between runs
    awkward_ids: int = 0  # test ids left out: a parametrization id holding "::"
    test_runs: int = 0
    test_seconds: float = 0.0
    seconds: float = 0.0
    kinds: dict[str, int] = Field(default_factory=dict)
    rejected: dict[str, int] = Field(default_factory=dict)


class BuildReport(BaseModel):
    out: str
    seed: int
    workers: int = 0
    runner: str = ""
    machine: dict[str, Any] = Field(default_factory=dict)
    projects: list[ProjectReport] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    kinds: dict[str, int] = Field(default_factory=dict)
    statement_writers: dict[str, int] = Field(default_factory=dict)
    test_runs: int = 0
    seconds: float = 0.0
