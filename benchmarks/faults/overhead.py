"""Do issue 10's checks slow the measured hot paths? The retrieval benchmark run back to back
on two checkouts (old, new), alternating, same corpus sizes and seeds.

    python benchmarks/faults/overhead.py --old /work/main --new . --sizes 10k,100k --reps 2

Each checkout's own `benchmarks/retrieval/bench.py` runs with `PYTHONPATH` pointing at that
checkout (its build and serve workers inherit it). Printed: index load time (BM25 arrays and
vectors mapped, where the new load-time invariants run) and p50 / p95 latency per strategy,
median over the repetitions, and new / old.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def run_bench(code: Path, sizes: str, queries: int, cache: Path, out: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(code / "benchmarks" / "retrieval" / "bench.py"),
        "--sizes",
        sizes,
        "--embedder",
        "hash",
        "--engines-at",
        "none",
        "--throughput",
        "off",
        "--queries",
        str(queries),
        "--cache-dir",
        str(cache),
        "--json",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(code)}
    subprocess.run(cmd, check=True, env=env, cwd=code, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text(encoding="utf-8"))


def metrics(report: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in report["sizes"]:
        s = r["serve"]
        out[f"{r['label']} load s"] = s["load_s"]
        out[f"{r['label']} build s"] = r["build"].get("build_s", 0.0)
        for name, v in s["strategies"].items():
            out[f"{r['label']} {name} p50 ms"] = v["latency"]["p50_ms"]
            out[f"{r['label']} {name} p95 ms"] = v["latency"]["p95_ms"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--sizes", default="10k,100k")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="lbi-overhead-") as tmp:
        for rep in range(args.reps):
            order = ("old", "new") if rep % 2 == 0 else ("new", "old")
            for label in order:
                code = (args.old if label == "old" else args.new).resolve()
                out = Path(tmp) / f"{label}-{rep}.json"
                rep_m = metrics(run_bench(code, args.sizes, args.queries, Path(tmp) / label, out))
                runs[label].append(rep_m)
                print(f"rep {rep + 1} {label} done", file=sys.stderr)
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"retrieval benchmark, old {args.old} vs new {args.new} (median of {args.reps})"
    )
    for c in ("metric", "old", "new", "new / old"):
        t.add_column(c, justify="right" if c != "metric" else "left")
    rows = {}
    for key in runs["old"][0]:
        old = statistics.median(r[key] for r in runs["old"])
        new = statistics.median(r[key] for r in runs["new"])
        ratio = new / old if old else float("nan")
        rows[key] = {"old": old, "new": new, "ratio": ratio}
        t.add_row(key, f"{old:.3f}", f"{new:.3f}", f"{ratio:.2f}")
    Console().print(t)
    print(f"load average now: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
