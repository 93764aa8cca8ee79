"""Do issue 10's checks slow the measured hot paths? The retrieval benchmark's own build and
serve workers (`benchmarks/retrieval/bench.py _build | _serve`), run on two checkouts
alternately (old, new, new, old, ...) on the *same* corpus, queries and index.

    python benchmarks/faults/overhead.py --old /work/main --new . --sizes 10k,100k --reps 5

1. The old checkout's `bench.py --keep-index` makes the corpus, the queries and an index
   (an index without per-file hashes, which both checkouts read; the new code then runs
   its load-time invariants and nothing else).
2. `_serve` (fresh process: load = open + BM25 arrays + vectors; then the timed queries of
   each strategy) alternates between the checkouts `--reps` times each.
3. `_build` (fresh process, from the corpus file) alternates `--build-reps` times each: the
   new build also hashes every file it wrote.

Each worker runs with `PYTHONPATH` set to its checkout. Printed: the median over the
repetitions (and the minimum, the least disturbed by other load) for old and new, and
new / old. On a shared, loaded machine only differences well beyond the run-to-run spread
mean anything; the table prints that spread.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RESULT_TAG = "BENCH-RESULT "


def worker(code: Path, argv: list[str]) -> dict[str, Any]:
    bench = code / "benchmarks" / "retrieval" / "bench.py"
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run(
        [sys.executable, str(bench), *argv], capture_output=True, text=True, env=env, cwd=code
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{code}: {argv[0]} failed:\n{proc.stderr[-3000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG) :])
    raise RuntimeError(f"{code}: {argv[0]} printed no result")


def serve_metrics(r: dict[str, Any], label: str) -> dict[str, float]:
    out = {f"{label} load s": r["load_s"]}
    for name, v in r["strategies"].items():
        out[f"{label} {name} p50 ms"] = v["latency"]["p50_ms"]
        out[f"{label} {name} p95 ms"] = v["latency"]["p95_ms"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[2])
    ap.add_argument("--sizes", default="10k,100k")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--reps", type=int, default=5, help="serve runs per checkout and size")
    ap.add_argument("--build-reps", type=int, default=2, help="build runs per checkout and size")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    old, new = args.old.resolve(), args.new.resolve()
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="lbi-overhead-") as tmp:
        cache = Path(tmp) / "cache"
        cmd = [sys.executable, str(old / "benchmarks/retrieval/bench.py"), "--sizes", args.sizes]
        cmd += ["--embedder", "hash", "--engines-at", "none", "--throughput", "off"]
        cmd += ["--queries", str(args.queries), "--cache-dir", str(cache), "--keep-index"]
        subprocess.run(
            cmd,
            check=True,
            env={**os.environ, "PYTHONPATH": str(old)},
            cwd=old,
            stdout=subprocess.DEVNULL,
        )
        for size in args.sizes.split(","):
            n = (
                int(float(size[:-1]) * {"k": 1e3, "M": 1e6}[size[-1]])
                if size[-1] in "kM"
                else int(size)
            )
            index = cache / f"index-{size}-hash"
            queries = cache / f"queries-{n}-s0-q{args.queries}.json"
            (corpus,) = cache.glob(f"corpus-{n}-s0-*.jsonl")
            per: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for rep in range(max(args.reps, args.build_reps)):
                order = ("old", "new") if rep % 2 == 0 else ("new", "old")
                for label in order:
                    code = old if label == "old" else new
                    m: dict[str, float] = {}
                    if rep < args.reps:
                        r = worker(
                            code,
                            [
                                "_serve",
                                "--index",
                                str(index),
                                "--queries",
                                str(queries),
                                "--embedder",
                                "hash",
                            ],
                        )
                        m.update(serve_metrics(r, size))
                    if rep < args.build_reps:
                        out = Path(tmp) / f"build-{label}-{size}"
                        b = worker(
                            code,
                            [
                                "_build",
                                "--corpus",
                                str(corpus),
                                "--out",
                                str(out),
                                "--embedder",
                                "hash",
                            ],
                        )
                        m[f"{size} build s"] = b["build_s"]
                        shutil.rmtree(out, ignore_errors=True)
                    per[label].append(m)
                print(f"{size} rep {rep + 1} done", file=sys.stderr)
            for label in ("old", "new"):
                runs[label].extend(per[label])
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"old {old} vs new {new}: median (min) over repetitions")
    for c in ("metric", "old", "new", "new / old (median)", "old spread", "n"):
        t.add_column(c, justify="left" if c == "metric" else "right")
    rows: dict[str, dict[str, float]] = {}
    keys = sorted({k for r in runs["old"] for k in r}, key=lambda k: (k.split()[0], k))
    for key in keys:
        o = [r[key] for r in runs["old"] if key in r]
        w = [r[key] for r in runs["new"] if key in r]
        om, wm = statistics.median(o), statistics.median(w)
        spread = (max(o) - min(o)) / om if om else 0.0
        rows[key] = {
            "old": om,
            "new": wm,
            "old_min": min(o),
            "new_min": min(w),
            "ratio": wm / om if om else float("nan"),
            "old_spread": spread,
        }
        t.add_row(
            key,
            f"{om:.3f} ({min(o):.3f})",
            f"{wm:.3f} ({min(w):.3f})",
            f"{wm / om:.2f}",
            f"±{spread * 50:.0f} %",
            str(len(o)),
        )
    Console(width=140).print(t)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
