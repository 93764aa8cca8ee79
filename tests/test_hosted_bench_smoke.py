"""Smoke run of benchmarks/hosted/bench.py (scale and rate phases, tiny), so the script
cannot rot: its provider process starts and stops, every run completes, the table renders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.babyai

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "hosted" / "bench.py"


def test_hosted_bench_smoke(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        str(BENCH),
        "--out",
        str(tmp_path),
        "--phases",
        "scale,rate",
        "--workers",
        "1,2",
        "--min-episodes",
        "1",
        "--episodes-per-worker",
        "1",
        "--steps",
        "2",
        "--latency",
        "0.01",
        "--per-token",
        "0",
        "--rpm",
        "6000",
        "--rate-episodes",
        "2",
        "--rate-workers",
        "2",
        "--rate-steps",
        "2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    assert [r["workers"] for r in res["scale"]] == [1, 2]
    assert all(r["errors"] == 0 and r["calls"] == 2 * r["episodes"] for r in res["scale"])
    assert len(res["rate"]) == 4
    assert all(r["requests"] == 4 for r in res["rate"] if r["errors"] == 0)
    assert "### Scale" in proc.stdout and "### Rate" in proc.stdout
