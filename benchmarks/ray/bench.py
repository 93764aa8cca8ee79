"""Episodes per second vs workers for the three executors of `lbi run` on the same grid, in
one process, back to back: local threads, local processes and Ray actors; and Ray's cost
relative to the local executor at each worker count (a ratio of wall times).

The grid is a seeded BabyAI retrieval-policy ablation (offline, no LLM): data synthesized
here and indexed with the hash embedder, unless --index is given. Every number is the wall
time of `run_experiment` into a fresh run directory, so it includes making the workers
(env + index per worker); Ray's instance is started once beforehand and its start-up time
is printed on its own.

    python benchmarks/ray/bench.py --tasks 8 --workers 1,2 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

EXECUTORS = (("threads", "local", "thread"), ("processes", "local", "process"), ("ray", "ray", ""))


def build_index(root: Path, train_tasks: int) -> Path:
    from lbi_icl.cli import main

    data, idx = root / "d.jsonl", root / "idx"
    argv = ["synthesize", "--env", "babyai", "--tasks", str(train_tasks), "--out", str(data)]
    assert main([*argv, "--no-progress"]) == 0
    argv = ["index", "build", "--trajectories", str(data), "--out", str(idx)]
    assert main([*argv, "--embedder", "hash:64"]) == 0
    return idx


def one_run(index: Path, out: Path, args: argparse.Namespace, executor: str, par: str, w: int):
    from lbi_icl.runner import RunConfig, run_experiment

    shutil.rmtree(out, ignore_errors=True)
    config = RunConfig(
        env="babyai",
        tasks=args.tasks,
        strategies=["none", "instruction"],
        index=index,
        out=out,
        workers=w,
        max_steps=args.max_steps,
        executor=executor,
        parallel=par or "thread",
    )
    t = time.perf_counter()
    summary = run_experiment(config, show_progress=False)
    wall = time.perf_counter() - t
    assert summary.episodes == summary.planned and summary.errors == 0, summary
    return wall, summary.episodes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=8, help="test tasks (x2 strategies)")
    ap.add_argument("--max-steps", type=int, default=20)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeats", type=int, default=2, help="runs per cell; the best is kept")
    ap.add_argument("--index", type=Path, help="an index (default: synthesize one here)")
    ap.add_argument("--train-tasks", type=int, default=8, help="tasks synthesized for it")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # 127.0.0.1 only
    workers = [int(x) for x in args.workers.split(",")]
    root = Path(tempfile.mkdtemp(prefix="lbi-ray-bench-"))
    con = Console(width=140)  # no wrapped headers when piped
    try:
        index = args.index or build_index(root, args.train_tasks)
        import ray

        t = time.perf_counter()
        ray.init(address="local", num_cpus=max(workers), include_dashboard=False)
        ray_start = time.perf_counter() - t
        walls: dict[tuple[str, int], float] = {}
        episodes = 0
        for w in workers:
            for rep in range(args.repeats):
                order = EXECUTORS if rep % 2 == 0 else EXECUTORS[::-1]
                for name, executor, par in order:
                    wall, episodes = one_run(index, root / "run", args, executor, par, w)
                    key = (name, w)
                    walls[key] = min(walls.get(key, wall), wall)
                    con.print(f"{name:9s} workers={w} rep={rep}: {wall:.2f} s", style="dim")
        ray.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    table = Table(title=f"episodes/s, {episodes} episodes per run (best of {args.repeats})")
    table.add_column("workers", justify="right")
    for name, _, _ in EXECUTORS:
        table.add_column(name, justify="right")
    table.add_column("ray / threads (time)", justify="right")
    table.add_column("ray / processes (time)", justify="right")
    for w in workers:
        row = [str(w)] + [f"{episodes / walls[(n, w)]:.2f}" for n, _, _ in EXECUTORS]
        row.append(f"{walls[('ray', w)] / walls[('threads', w)]:.2f}x")
        row.append(f"{walls[('ray', w)] / walls[('processes', w)]:.2f}x")
        table.add_row(*row)
    con.print(table)
    con.print(f"Ray local instance start (once, not in the table): {ray_start:.1f} s")
    scale = {n: walls[(n, workers[-1])] / walls[(n, workers[0])] for n, _, _ in EXECUTORS}
    con.print(
        f"time at {workers[-1]} workers / time at {workers[0]}: "
        + ", ".join(f"{n} {r:.2f}" for n, r in scale.items())
    )
    con.print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
