"""Smoke run of the speed/scale benchmark (benchmarks/retrieval/bench.py) at 2k pairs, so
the script cannot rot: every phase runs (corpus, engine comparison, build and serve in fresh
processes) and its numbers are sane."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "retrieval" / "bench.py"
SPELLS = ROOT / "benchmarks" / "retrieval" / "embed_spells.py"


def test_bench_smoke_2k(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    cmd = [
        sys.executable,
        str(BENCH),
        "--sizes",
        "2k",
        "--queries",
        "8",
        "--engines-at",
        "2k",
        "--engine-queries-rank",
        "4",
        "--throughput",
        "off",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--json",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    (size,) = report["sizes"]
    assert size["pairs"] == 2000
    build, serve = size["build"], size["serve"]
    assert build["steps"] == 2000  # the corpus has exactly the requested pairs
    assert 0 < build["examples"] < 2000
    assert build["embed_s"] + build["bm25_s"] + build["read_parse_s"] <= build["build_s"] + 1e-6
    assert sum(c["unique"] for c in build["embed_calls"]) > 0
    assert build["peak_rss_mb"] > 20 and serve["peak_rss_mb"] > 20
    assert size["index_bytes"] > size["corpus_bytes"] // 4
    for name in ("observation", "instruction", "agentic"):
        s = serve["strategies"][name]
        assert s["latency"]["n"] == 8
        assert 0 < s["latency"]["p50_ms"] <= s["latency"]["p95_ms"]
        assert s["mean_items"] > 0
    # agentic = observation hits + dense hits: more candidates than observation alone
    # (both may then be cut to the same count by the prompt token budget)
    cands = {k: v["mean_candidates"] for k, v in serve["strategies"].items()}
    assert cands["agentic"] > cands["observation"]
    eng = report["engines"]
    assert {e["engine"].split()[0] for e in eng["engines"]} == {"rank-bm25", "bm25s"}
    # same BM25 formula on both sides: top-5 lists largely agree
    assert eng["overlap_at_k"]["bm25s/robertson vs rank-bm25/eps0"] >= 0.6
    assert {t["name"] for t in report["targets"]} >= {"observation_p50_ms", "load_s"}
    assert "Build (embedder: hash)" in proc.stdout


def test_bench_reuses_a_kept_index_without_rebuilding(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    common = [sys.executable, str(BENCH), "--sizes", "2k", "--queries", "4", "--engines-at",
              "none", "--throughput", "off", "--cache-dir", str(cache),
              "--strategies", "observation,history"]  # fmt: skip
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for extra, out in ((["--keep-index"], first), (["--reuse-index"], second)):
        proc = subprocess.run(
            [*common, *extra, "--json", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reusing the index kept in" in proc.stdout + proc.stderr
    (a,) = json.loads(first.read_text())["sizes"]
    (b,) = json.loads(second.read_text())["sizes"]
    assert a["build"] == b["build"]  # the saved build, not a new one
    assert b["serve"]["strategies"]["history"]["latency"]["n"] == 4
    assert (cache / "index-2k-hash" / "manifest.json").exists()


def test_embed_spells_smoke(tmp_path: Path) -> None:
    """benchmarks/retrieval/embed_spells.py: windows of torch vs a backend, and a summary
    computed from those windows (hash embedder as the compared backend: no extra install)."""
    out = tmp_path / "spells.json"
    cmd = [sys.executable, str(SPELLS), "--backend", "hash", "--seconds", "2", "--window", "1"]
    proc = subprocess.run(
        [*cmd, "--pairs", "60", "--json-out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    windows, summary = report["windows"], report["summary"]
    assert summary["windows"] == len(windows) >= 2
    for w in windows:
        assert w["queries"] > 0 and w["torch_ms"] > 0 and w["backend_ms"] > 0
        assert abs(w["ratio"] - w["torch_ms"] / w["backend_ms"]) < 1e-9
    ratios = sorted(w["ratio"] for w in windows)
    assert ratios[0] <= summary["ratio_median"] <= ratios[-1]
    assert summary["windows_at_target"] == sum(r >= 3.0 for r in ratios)
    # the hashing embedder does no matrix work: faster than the transformer in every window
    assert all(r > 1 for r in ratios)
    assert summary["fast_quarter"]["backend_ms"] <= summary["slow_quarter"]["backend_ms"]
    assert "windows of 1 s" in proc.stdout


def test_embed_spells_rejects_a_window_longer_than_the_run() -> None:
    proc = subprocess.run(
        [sys.executable, str(SPELLS), "--seconds", "1", "--window", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "--window" in proc.stderr
