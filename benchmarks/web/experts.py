"""Success of the scripted MiniWoB++ experts (`lbi_icl/envs/browsergym/experts/`) per task.

Each task with a solver is demonstrated (`MiniWoBEnv.demonstrate`: the solver reads the
page and acts, one BrowserGym action per step, in a real headless Chromium) under the
default protocol (browsergym: 10 steps, action set `miniwob_all`, the tasks' own timeouts
and `slow_mo`) on the benchmark's own test seeds (5 per task) and `--train-seeds` seeds of
the train split (from 1000). A demonstration counts when the task's validator reports
success. Offline, no LLM.

    python benchmarks/web/experts.py --train-seeds 10 --workers 2 --json runs/experts.json
    python benchmarks/web/experts.py --tasks click-button,enter-text --train-seeds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from lbi_icl.data import Task
from lbi_icl.envs.base import EnvError
from lbi_icl.envs.browsergym.experts import SOLVERS
from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv

_local = threading.local()
_envs: list[MiniWoBEnv] = []
_lock = threading.Lock()


def _env(options: dict[str, Any]) -> MiniWoBEnv:
    env = getattr(_local, "env", None)
    if env is None:
        env = MiniWoBEnv(**options)
        _local.env = env
        with _lock:
            _envs.append(env)
    return env


def run_one(task: Task, options: dict[str, Any]) -> dict[str, Any]:
    env = _env(options)
    t0 = time.perf_counter()
    try:
        demo = env.demonstrate(task)
        error = None
    except EnvError as e:
        demo, error = None, str(e)
    return {
        "task": task.metadata["task"],
        "id": task.id,
        "split": task.split,
        "success": demo is not None,
        "steps": len(demo.steps) if demo else None,
        "goal": env.goal,
        "error": error,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="", help="comma list (default: every task with a solver)")
    ap.add_argument("--train-seeds", type=int, default=10)
    ap.add_argument("--no-test", action="store_true", help="skip the benchmark's test seeds")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--slow-mo", type=int, default=None, help="default: each task's own")
    ap.add_argument(
        "--timeout-ms",
        type=int,
        default=None,
        help="Playwright's page-load timeout (default: each task's own, 5 s; a loaded "
        "machine misses it, which is no failure of a solver)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    names = [t for t in args.tasks.split(",") if t] or sorted(SOLVERS)
    options: dict[str, Any] = {"task_names": names, "tasks_per_name": {"train": args.train_seeds}}
    if args.slow_mo is not None:
        options["slow_mo"] = args.slow_mo
    if args.timeout_ms is not None:
        options["timeout_ms"] = args.timeout_ms
    lister = MiniWoBEnv(**options)
    tasks = ([] if args.no_test else lister.tasks("test")) + lister.tasks("train")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    pool = ThreadPoolExecutor(max_workers=args.workers)
    try:
        for r in pool.map(lambda t: run_one(t, options), tasks):
            results.append(r)
            mark = "ERR" if r["error"] else "ok" if r["success"] else "FAIL"
            what = r["error"] or r["goal"]
            print(f"{mark:4} {r['id']:45} {r['seconds']:6.1f}s {what[:90]}", flush=True)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: no new episode starts
        for env in _envs:
            env.close()
    per: dict[str, dict[str, Any]] = {}
    for r in results:
        p = per.setdefault(
            r["task"], {"test": [0, 0], "train": [0, 0], "steps": [], "env_errors": 0}
        )
        if r["error"]:  # the browser failed (a page load timed out), not the solver
            p["env_errors"] += 1
            continue
        p[r["split"]][0] += int(r["success"])
        p[r["split"]][1] += 1
        if r["steps"]:
            p["steps"].append(r["steps"])
    summary = {
        "started_at": started,
        "wall_s": round(time.perf_counter() - t0, 1),
        "load_avg_start": load0,
        "load_avg_end": os.getloadavg(),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "git": _git(),
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "tasks": {
            k: {
                "test": v["test"],
                "train": v["train"],
                "success": (v["test"][0] + v["train"][0]) / max(1, v["test"][1] + v["train"][1]),
                "mean_steps": round(sum(v["steps"]) / len(v["steps"]), 2) if v["steps"] else None,
                "env_errors": v["env_errors"],
            }
            for k, v in sorted(per.items())
        },
        "episodes": results,
    }
    print(
        "\n| task | test seeds | train seeds | success | steps | env errors |"
        "\n|---|---|---|---|---|---|"
    )
    for k, v in summary["tasks"].items():
        print(
            f"| {k} | {v['test'][0]}/{v['test'][1]} | {v['train'][0]}/{v['train'][1]} | "
            f"{100 * v['success']:.0f}% | {v['mean_steps']} | {v['env_errors']} |"
        )
    ok = sum(1 for v in summary["tasks"].values() if v["success"] >= 0.9)
    print(f"\n{ok} of {len(summary['tasks'])} tasks solved on >= 90% of their seeds")
    if args.json:
        with open(args.json + ".part", "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=1)
        os.replace(args.json + ".part", args.json)
    return 0


def _git() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
