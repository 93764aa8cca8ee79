"""The LLM relabeler with and without the page's goal in view (lbi_icl/synth/relabel_view.py).

Takes `--n` abstract examples at random from a synthesized web dataset (their steps are the
windows), and relabels each window twice with the same model: observations as stored
(`Goal: ...` first, the behaviour before the view) and with the page's goal left out (the
default now). Prints, per arm, how many instructions are the page's goal verbatim, split by
whether the window solved the page, and the windows side by side for reading. Responses are
cached in OUT/llm_cache.sqlite, so a rerun is free.

    python benchmarks/llm/relabel_probe.py --data runs/bench-llm-miniwob/data/llm.jsonl \\
        --out runs/bench-llm-miniwob/relabel-probe --n 20
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

from common import ENGINE, MODEL_NAME, Server, machine, utc_now

from lbi_icl.data import Trajectory
from lbi_icl.data.jsonl import read_trajectories
from lbi_icl.llm import make_llm
from lbi_icl.synth import LLMRelabeler
from lbi_icl.synth.relabel_web import goal_of

log = logging.getLogger("relabel-probe")
ARMS = {"goal shown (before)": False, "goal hidden (now)": True}


def page_goal(example: Trajectory) -> str:
    return (goal_of(example.steps[0].observation) or "") if example.steps else ""


def same_text(a: str, b: str) -> bool:
    return a.strip().rstrip(".").lower() == b.strip().rstrip(".").lower()


def solved(example: Trajectory) -> bool:
    return any(bool((s.info or {}).get("success")) for s in example.steps)


def goal_copies(data: Path) -> tuple[int, int, int]:
    """Over a whole dataset: (kept abstract examples, those whose instruction is the page's
    goal verbatim, of them over windows that did not solve the page)."""
    abstract = abstract_examples(data) if data.exists() else []
    copies = [t for t in abstract if (goal := page_goal(t)) and same_text(t.instruction, goal)]
    return len(abstract), len(copies), sum(not solved(t) for t in copies)


def abstract_examples(data: Path) -> list[Trajectory]:
    """The dataset's abstract examples, read with the project's validated JSONL reader."""
    return [t for t in read_trajectories(data) if t.source.get("instruction_kind") == "abstract"]


def sample(data: Path, n: int, seed: int) -> list[Trajectory]:
    abstract = abstract_examples(data)
    return random.Random(seed).sample(abstract, min(n, len(abstract)))


def relabel_all(windows: list[Trajectory], llm: Any) -> list[dict[str, Any]]:
    relabelers = {
        arm: LLMRelabeler(llm, kinds=("abstract",), hide_goal=hide) for arm, hide in ARMS.items()
    }
    out = []
    for i, w in enumerate(windows):
        row: dict[str, Any] = {
            "id": w.id,
            "goal": page_goal(w),
            "solved": solved(w),
            "actions": [s.action for s in w.steps],
            "stored": w.instruction,
        }
        for arm, rel in relabelers.items():
            t0 = time.time()
            got = rel.relabel(w, 0, len(w.steps))
            row[arm] = got[0].instruction if got else ""
            log.info("%d/%d %s: %.1f s", i + 1, len(windows), arm, time.time() - t0)
        out.append(row)
    return out


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| arm | windows | the page's goal verbatim | of them over windows that did not "
        "solve the page |",
        "|---|---|---|---|",
    ]
    for arm in ARMS:
        copies = [r for r in rows if r["goal"] and same_text(r[arm], r["goal"])]
        wrong = [r for r in copies if not r["solved"]]
        lines.append(f"| {arm} | {len(rows)} | {len(copies)} | {len(wrong)} |")
    lines += ["", "| # | page goal | solved | actions | " + " | ".join(ARMS) + " |",
              "|---|---|---|---|" + "---|" * len(ARMS)]  # fmt: skip
    for i, r in enumerate(rows, 1):
        acts = "; ".join(f"`{a}`" for a in r["actions"])
        arms = " | ".join(r[a].replace("|", "/") for a in ARMS)
        lines.append(f"| {i} | {r['goal']} | {'✓' if r['solved'] else '✗'} | {acts} | {arms} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a synthesized web dataset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--seed", type=int, default=27)
    p.add_argument("--model", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    p.add_argument("--alias", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    p.add_argument("--base-url", default=None, help="use this running server instead")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ctx", type=int, default=4096)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    windows = sample(args.data, args.n, args.seed)
    srv = Server(
        model=args.model, alias=args.alias, name="relabel-probe", ctx=args.ctx,
        threads=args.threads, log_file=args.out / "server.log", autogroup_nice=None,
        base_url=args.base_url,
    )  # fmt: skip
    t0 = time.time()
    with srv:
        llm = make_llm(srv.spec, base_url=srv.base_url, cache_path=args.out / "llm_cache.sqlite")
        rows = relabel_all(windows, llm)
    label = (
        f"Model {MODEL_NAME}; engine {ENGINE}, {args.threads} thread(s), temperature 0; "
        f"machine {machine()}; {len(windows)} abstract examples of {args.data} (seed "
        f"{args.seed}); {time.time() - t0:.0f} s; {utc_now()}. Command: "
        f"`python {' '.join(sys.argv)}`."
    )
    md = ["# The LLM relabeler with and without the page's goal", "", label, "", *table(rows)]
    (args.out / "probe.md").write_text("\n".join(md) + "\n")
    (args.out / "probe.json").write_text(json.dumps({"label": label, "rows": rows}, indent=1))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
