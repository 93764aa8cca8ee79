"""Hosted models, simulated: `lbi run` against the loopback provider (provider.py, its own
process) with hosted-like latency, rate limits and cache accounting. Three measurements:

1. scale: BabyAI episodes/hour with 1/8/32/64 workers (threads, strategy `none`, the LLM
   policy over the Anthropic wire) as a ratio of the ideal (workers x the 1-worker rate);
   each point is a fresh process, so its peak memory gives memory per worker;
2. cost: billed cost per 20-step episode with prompt caching against the same tokens
   without it, for `none` and `agentic`, over both wire protocols, with the paper's prompt
   (layout examples_first) and the stable-first layout (providers' cache minimums; no
   minimum, what caching could do if short prefixes were cached), with the environment's
   documents in the system message and with them after each task's instruction (a long
   objective), both layouts;
3. rate: the request rate the provider observed against `--rpm` with 64 workers (never
   above it), and what happens without a client limit against a provider enforcing one.

    python benchmarks/hosted/bench.py --out /tmp/hosted-bench
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from hosted_phases import build_index, phase_cost, phase_rate, phase_scale, scale_one  # noqa: E402
from hosted_report import render  # noqa: E402


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_scale":
        ap = argparse.ArgumentParser()
        for name in ("--url", "--run-out"):
            ap.add_argument(name)
        for name in ("--workers", "--episodes", "--steps"):
            ap.add_argument(name, type=int)
        scale_one(ap.parse_args(sys.argv[2:]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/lbi-hosted-bench"))
    ap.add_argument("--index", type=Path, help="a BabyAI index (default: built here)")
    ap.add_argument("--phases", default="scale,cost,rate")
    ap.add_argument(
        "--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 32, 64]
    )
    ap.add_argument("--episodes-per-worker", type=int, default=2)
    ap.add_argument("--min-episodes", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.3, help="provider base latency, s")
    ap.add_argument("--per-token", type=float, default=0.01, help="s per answer token")
    ap.add_argument("--cost-episodes", type=int, default=8)
    ap.add_argument("--cost-workers", type=int, default=8)
    ap.add_argument(
        "--cost-prompts",
        default="paper,stable-first,docs,docs+stable-first,long objective,"
        "long objective+stable-first",
        help="cost: the prompt variants (paper = the examples_first layout, stable-first, "
        "docs = BabyAI's documents in the system message, long objective = the same "
        "documents after each task's instruction; +stable-first: in that layout)",
    )
    ap.add_argument("--rpm", type=float, default=600)
    ap.add_argument("--rate-episodes", type=int, default=64)
    ap.add_argument("--rate-workers", type=int, default=64)
    ap.add_argument("--rate-steps", type=int, default=10)
    ap.add_argument("--train-tasks", type=int, default=8)
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    phases = set(args.phases.split(","))
    res: dict[str, Any] = {
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    if "scale" in phases:
        res["scale"] = phase_scale(args, out)
    if "cost" in phases:
        res["cost"] = phase_cost(args, out, args.index or build_index(out, args.train_tasks))
    if "rate" in phases:
        res["rate"] = phase_rate(args, out)
    (out / "results.json").write_text(json.dumps(res, indent=2) + "\n")
    print(render(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
