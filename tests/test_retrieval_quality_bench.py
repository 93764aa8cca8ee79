"""Smoke run of benchmarks/retrieval_quality/run.py and tune.py on the fixture index, so
the scripts cannot rot: the table has a row per strategy and the JSON the paired diffs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def _load(name: str):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_cells_show_the_latency_ratio_and_the_wilson_interval() -> None:
    run = _load("run")
    lat = {"agentic": 80.0, "history": 60.0}
    assert run.latency_cell(lat, "history") == "60.0 (0.75×)"
    assert run.latency_cell(lat, "agentic") == "80.0 (1.00×)"
    assert run.latency_cell(lat, "model") == "–"
    assert run.latency_cell({"history": 60.0}, "history") == "60.0"
    live = {"successes": 4, "finished": 12, "ci": (0.138, 0.609)}
    assert run.live_cell(live) == "4/12 [14–61 %]"
    assert run.live_cell({"successes": 0, "finished": 0, "ci": (None, None)}) == "0/0"


def test_compare_indexes_pairs_two_indexes_on_the_same_steps(tmp_path: Path) -> None:
    from lbi_icl.data.jsonl import read_trajectories, write_jsonl

    a, b = tmp_path / "a", tmp_path / "b"
    build_index([FIX / "trajectories.jsonl"], a, embedder=HashEmbedder(64))
    # B holds half of A's examples: never better on any step, worse on some
    half = list(read_trajectories(FIX / "trajectories.jsonl"))[::2]
    write_jsonl(tmp_path / "half.jsonl", half)
    build_index([tmp_path / "half.jsonl"], b, embedder=HashEmbedder(64))
    cmp = _load("compare_indexes")
    same = cmp.compare(a, a, FIX / "heldout.jsonl", ["observation"], 5, 200)
    (row,) = same["rows"]
    assert same["steps"] == 7 and row["a"] == row["b"] and row["diff_b_minus_a"][0] == 0.0
    out = cmp.compare(a, b, FIX / "heldout.jsonl", ["observation", "history"], 5, 200)
    for row in out["rows"]:
        d, lo, hi = row["diff_b_minus_a"]
        assert abs(d - (row["b"] - row["a"])) < 1e-6 and lo <= d <= hi


@pytest.mark.babyai
def test_refilter_reproduces_a_synthesis_and_changes_only_the_filter(tmp_path: Path) -> None:
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.synth.config import SynthConfig
    from lbi_icl.synth.pipeline import synthesize

    out = tmp_path / "train.jsonl"
    cfg = SynthConfig(
        env="babyai",
        env_options={"levels": ["BabyAI-GoToLocal-v0"]},
        tasks=3,
        explorers=["expert", "noisy_expert"],
        epsilon=0.5,
    )
    synthesize(cfg, out)
    refilter = _load("refilter")
    same = refilter.refilter(out, tmp_path / "off.jsonl", None, env_check=True)
    assert (tmp_path / "off.jsonl").read_bytes() == out.read_bytes()
    assert same["failed_steps_cut"] == 0
    cut = refilter.refilter(out, tmp_path / "on.jsonl", True, env_check=True)
    assert cut["failed_steps_cut"] >= cut["examples_with_failed_steps"] > 0
    assert cut["examples_final"] == sum(1 for _ in read_trajectories(tmp_path / "on.jsonl"))
    report = json.loads((tmp_path / "on.report.json").read_text())
    assert report["config"]["failed_filter"] is True and report["counts"] == cut
