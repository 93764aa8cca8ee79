"""Shared by the swe tests: the fixture task set (tests/fixtures/swe_project built by the
task-set builder) and the one rule for the sandbox: outside CI a machine without bubblewrap
skips the tests that need it; under CI (CI set) they fail, so a broken set-up cannot pass
as skipped tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lbi_icl.envs.swe.sandbox import SandboxUnavailableError, check_sandbox
from lbi_icl.envs.swe.taskset.build import BuildConfig, build_taskset

FIXTURE = Path(__file__).parent / "fixtures" / "swe_project"


def sandbox_problem() -> str | None:
    try:
        check_sandbox()
    except SandboxUnavailableError as e:
        return str(e)
    return None


def require_sandbox() -> None:
    """Skip (outside CI) or fail (under CI) when the sandbox cannot be set up here."""
    why = sandbox_problem()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI: {why}", pytrace=False)
    pytest.skip(why)


def fixture_spec(folder: Path) -> Path:
    spec = {
        "projects": [
            {
                "name": name,
                "path": str(FIXTURE),
                "split": split,
                "sources": ["minicalc"],
                "tests": ["tests/check_core.py"],
                "docs": ["README.md"],
            }
            for name, split in (("calc_train", "train"), ("calc_test", "test"))
        ]
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def build_fixture_taskset(root: Path, out: str = "tasks", **kw: object) -> Path:
    """Two instances per split from the fixture project, into `root / out`."""
    cfg = {
        "out": root / out,
        "spec": fixture_spec(root),
        "seed": 1,
        "per_project": 2,
        "max_candidates": 4,
        "workers": 1,
        "cache_dir": root / "cache",
        **kw,
    }
    report = build_taskset(BuildConfig.model_validate(cfg))
    assert report.counts == {"train": 2, "test": 2}, report.counts
    return root / out
