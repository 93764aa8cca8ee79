"""Agentic and observation steps at 1M pairs with the real MiniLM query embedding: today's
code against this checkout, in one run (issue 13 §3).

Runs `minilm_at_scale.py` (this checkout's script) in fresh processes whose library is
either checkout (`PYTHONPATH`), alternating the order each round, on one kept hash index
(`bench.py --sizes 1M --keep-index`) and its queries:

    python benchmarks/retrieval/scale_ab.py --old /path/to/old/checkout \\
        --index CACHE/index-1M-hash --queries CACHE/queries-1000000-s0-q200.json \\
        --configs old:default,new:default,new:minilm-onnx --rounds 3

A config is `checkout:embedder` (`default` = torch, `minilm-onnx`, `minilm-onnx-int8`,
`minilm-openvino`).
Printed: per config the median over rounds of each p50 / p95 (ms), and p50 / first config's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TAG = "RESULT "


def run_one(code: Path, embedder: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE / "minilm_at_scale.py"), str(args.index), str(args.queries)]
    cmd += ["--embedder", embedder, "--parts", str(args.parts)]
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=code)
    if proc.returncode != 0:
        raise RuntimeError(f"{code} / {embedder} failed:\n{proc.stderr[-3000:]}")
    for line in proc.stdout.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG) :])
    raise RuntimeError(f"{code} / {embedder}: no result line")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="today's checkout")
    ap.add_argument("--new", type=Path, default=HERE.parents[1])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--queries", type=Path, required=True)
    ap.add_argument("--configs", default="old:default,new:default,new:minilm-onnx")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parts", type=int, default=80)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    configs = [tuple(c.split(":", 1)) for c in args.configs.split(",")]
    runs: dict[str, list[dict[str, Any]]] = {f"{t}:{e}": [] for t, e in configs}
    for r in range(args.rounds):
        order = configs if r % 2 == 0 else list(reversed(configs))
        for tree, emb in order:
            res = run_one(trees[tree], emb, args)
            runs[f"{tree}:{emb}"].append(res)
            print(
                f"round {r + 1} {tree}:{emb}: agentic {res['agentic']} observation "
                f"{res['observation']} load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    keys = ["agentic", "observation", "embed query", "BM25 top-20", "dense top-20"]
    table: dict[str, dict[str, list[float]]] = {}
    for name, rs in runs.items():
        table[name] = {k: [statistics.median(x[k][i] for x in rs) for i in (0, 1)] for k in keys}
    base = table[f"{configs[0][0]}:{configs[0][1]}"]
    print(
        "\n| config | "
        + " | ".join(f"{k} p50 / p95 ms" for k in keys)
        + " | agentic × | observation × |"
    )
    print("|---|" + "---:|" * (len(keys) + 2))
    for name, t in table.items():
        cells = " | ".join(f"{t[k][0]:.1f} / {t[k][1]:.1f}" for k in keys)
        ra = t["agentic"][0] / base["agentic"][0]
        ro = t["observation"][0] / base["observation"][0]
        print(f"| {name} | {cells} | {ra:.2f} | {ro:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "table": table}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
