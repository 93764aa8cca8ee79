"""The real-LLM benchmark's report stage (benchmarks/llm/run.py) on eval-retrieval outputs
made here by the real CLI on the toy index, with a scripted query writer standing in for
the model, so the script cannot rot without a model on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lbi_icl.cli import main

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "llm" / "run.py"
FIX = ROOT / "tests" / "fixtures" / "retrieval"


def test_llm_benchmark_report_stage(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    out.mkdir()
    idx = tmp_path / "idx"
    assert main(["index", "build", "--trajectories", str(FIX / "trajectories.jsonl"),
                 "--out", str(idx), "--embedder", "hash"]) == 0  # fmt: skip
    script = tmp_path / "queries.json"
    script.write_text(json.dumps({"default": "Query: **open the red door**"}))
    common = ["eval-retrieval", "--index", str(idx), "--heldout", str(FIX / "heldout.jsonl"),
              "--strategies", "instruction", "observation", "model", "agentic", "-k", "2",
              "--json"]  # fmt: skip
    capsys.readouterr()
    for name, extra in (("template", []), ("llm", ["--llm", f"scripted:{script}"])):
        assert main([*common, *extra]) == 0
        (out / f"retrieval_{name}.json").write_text(capsys.readouterr().out)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--out", str(out), "--stages", "report"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "results.md").read_text()
    assert "| model | llm |" in md and "| agentic | template |" in md
    assert "'open the red door'" in md  # the cleaned scripted query
    assert "exact McNemar p =" in md and "(ablation stage not started)" in md
    data = json.loads((out / "results.json").read_text())
    assert data["retrieval"]["model/llm"]["query_writers"] == {
        f"llm:scripted:{script}": data["retrieval"]["model/llm"]["steps"]
    }
