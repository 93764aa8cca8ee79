"""benchmarks/swe/bench.py runs end to end on the fixture task set (tiny sizes), so the
script cannot rot. Numbers are printed, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.swe, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def test_swe_benchmark_runs(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "swe" / "bench.py")]
    cmd += ["--resets", "1", "--rounds", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert set(data) == {"actions", "workspace"}
    assert data["workspace"]["resets"] == 1 and data["workspace"]["disk_per_workspace_kib"] > 0
    assert "ALL" in data["actions"]


def test_swe_sandbox_benchmark_runs(tmp_path):
    from swe_setup import require_sandbox

    require_sandbox()
    out = tmp_path / "sandbox.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "swe" / "sandbox_bench.py")]
    cmd += ["--rounds", "1", "--episodes", "1", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["commands"]["ALL"]["on_p50_ms"] > 0 and data["commands"]["ALL"]["off_p50_ms"] > 0
    assert set(data["episode"]) == {"episode", "reset", "grade (submit)", "test run inside grade"}
