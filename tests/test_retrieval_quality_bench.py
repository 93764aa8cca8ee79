"""Smoke run of benchmarks/retrieval_quality/run.py and tune.py on the fixture index, so
the scripts cannot rot: the table has a row per strategy and the JSON the paired diffs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "retrieval"
BENCH = ROOT / "benchmarks" / "retrieval_quality"


def test_quality_and_tune_scripts(tmp_path: Path) -> None:
    index = tmp_path / "toy"
    build_index([FIX / "trajectories.jsonl"], index, embedder=HashEmbedder(64))
    held = str(FIX / "heldout.jsonl")
    out = tmp_path / "q.json"
    cmd = [sys.executable, str(BENCH / "run.py"), "--case", "toy", str(index), held,
           "--strategies", "observation,agentic,task_aware,history", "--bootstrap", "200",
           "--json", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| toy |")]
    assert [r.split("|")[2].strip() for r in rows] == [
        "observation", "agentic", "task_aware", "history"
    ]  # fmt: skip
    assert "| toy | agentic |" in proc.stdout and "baseline" in rows[1]
    report = json.loads(out.read_text())
    (case,) = report["cases"]
    assert case["baseline"] == "agentic" and case["heldout_steps"] == 7
    assert {p["strategy"] for p in case["paired"]} == {"observation", "task_aware", "history"}

    cmd = [sys.executable, str(BENCH / "tune.py"), "--case", "toy", str(index), held,
           "--strategy", "task_aware", "--set", '{"w_task": 0}',
           "--set", '{"w_task": 2}']  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith('{"w_task": 0}') and "mean" in lines[1]
