"""`python -m lbi_icl.envs.scienceworld`: `build-table` regenerates the packaged task table;
`bench` measures JVM start, load and per-step costs on this machine."""

from __future__ import annotations

import logging
import time
from typing import Any

from lbi_icl.envs.scienceworld.env import ScienceWorldEnv
from lbi_icl.envs.scienceworld.table import TABLE_PATH


def benchmark(task_ids: list[str], repeats: int = 3) -> list[dict[str, Any]]:
    """Measure what ScienceWorld costs here: JVM start, load with and without the gold
    path, and the mean cost of one step of the gold path three ways (this env's step; its
    step plus `valid_actions()`; the package's own `step`, which always lists actions)."""
    env = ScienceWorldEnv(step_limit=10_000, gold_cache=False)
    rows: list[dict[str, Any]] = []
    try:
        start = time.perf_counter()
        env._ensure_jvm()
        rows.append({"what": "jvm start", "seconds": time.perf_counter() - start})
        for task_id in task_ids:
            task = env.task(task_id)
            env.reset(task)
            load_s = env.last_load_s or 0.0
            start = time.perf_counter()
            gold = env.gold_actions(task)
            gold_s = time.perf_counter() - start
            per_step: dict[str, float] = {}
            for _ in range(repeats):  # best of `repeats`: shared machines are noisy
                for mode in ("step", "step+valid_actions", "package step"):
                    env.reset(task)
                    start = time.perf_counter()
                    for action in gold:
                        if mode == "package step":
                            env._sw.step(action)
                            continue
                        env.step(action)
                        if mode == "step+valid_actions":
                            env.valid_actions()
                    took = (time.perf_counter() - start) / max(len(gold), 1)
                    per_step[mode] = min(per_step.get(mode, took), took)
            rows.append(
                {
                    "what": task_id,
                    "load_s": load_s,
                    "load_gold_s": gold_s,
                    "gold_steps": len(gold),
                    **{f"{k}_ms": 1000 * v for k, v in per_step.items()},
                }
            )
    finally:
        env.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m lbi_icl.envs.scienceworld build-table [OUT]` regenerates the task table;
    `... bench [TASK_ID ...]` measures load and step costs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lbi_icl.envs.scienceworld")
    sub = parser.add_subparsers(dest="cmd", required=True)
    build = sub.add_parser("build-table", help="regenerate the packaged task table")
    build.add_argument("out", nargs="?", default=str(TABLE_PATH))
    bench = sub.add_parser("bench", help="measure JVM start, load and per-step costs")
    bench.add_argument("task_ids", nargs="*", default=["find-plant/0", "power-component/0"])
    bench.add_argument("--repeats", type=int, default=3, help="best of N replays per mode")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cmd == "bench":
        from rich.console import Console
        from rich.table import Table

        rows = benchmark(args.task_ids, repeats=args.repeats)
        table = Table(title="ScienceWorld costs")
        cols = list(dict.fromkeys(k for r in rows for k in r))
        for col in cols:
            table.add_column(col)
        for r in rows:
            table.add_row(
                *(f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols)
            )
        Console(width=200).print(table)
        return 0
    with ScienceWorldEnv() as env:
        env.build_table(args.out)
    return 0
