"""Desktop env speed: reset, step, tree fetch and evaluation seconds, tree size before and
after the cut, and expert episodes per hour with 1 and 2 workers (offline, no LLM).

    python benchmarks/desktop/bench.py --per-app 2 --out benchmarks/desktop/results/bench.json

Runs the `expert` of the first N tasks per application (Calc, Writer, Impress) of the
default `desktop` task set (or --tasks-dir), one fresh desktop per episode, then the same
episodes split over 2 worker processes. Tokens are the project's estimate (chars / 3,
`lbi_icl/agent/fit.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 3.0


def _episode(tasks_dir: str, task_id: str) -> dict[str, Any]:
    from lbi_icl.envs import make_env

    env = make_env("desktop", tasks_dir=tasks_dir)
    try:
        task = next(t for t in env.tasks("train") + env.tasks("test") if t.id == task_id)
        t0 = time.perf_counter()
        demo = env.demonstrate(task)
        wall = time.perf_counter() - t0
        reset_s = env.last_stats.get("reset_s")
    finally:
        env.close()
    assert demo is not None
    infos = [s.info for s in demo.steps]
    return {
        "task": task_id,
        "score": demo.metadata["score"],
        "wall_s": round(wall, 2),
        "reset_s": reset_s,
        "steps": len(infos),
        "step_s": [i["step_s"] for i in infos],
        "tree_s": [i["tree_s"] for i in infos],
        "eval_s": next((i["eval_s"] for i in infos if "eval_s" in i), None),
        "tree_chars": [i["tree_chars"] for i in infos],
        "shown_chars": [i["shown_chars"] for i in infos],
    }


def _pick(tasks_dir: str, per_app: int) -> list[str]:
    from lbi_icl.envs import make_env

    env = make_env("desktop", tasks_dir=tasks_dir)
    out: dict[str, list[str]] = {}
    for t in env.tasks("train") + env.tasks("test"):
        if t.metadata.get("infeasible"):
            continue
        app = t.metadata["domain"]
        if len(out.setdefault(app, [])) < per_app:
            out[app].append(t.id)
    return [tid for ids in out.values() for tid in ids]


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        vals = [v for r in rows for v in (r[key] if isinstance(r[key], list) else [r[key]])]
        return round(statistics.median([v for v in vals if v is not None]), 3)

    steps = [s for r in rows for s in r["step_s"][:-1]]  # the last (DONE) step evaluates
    return {
        "episodes": len(rows),
        "score_mean": round(sum(r["score"] for r in rows) / len(rows), 3),
        "reset_s_median": med("reset_s"),
        "reset_s_max": max(r["reset_s"] for r in rows),
        "step_s_median": round(statistics.median(steps), 3),
        "step_s_max": round(max(steps), 3),
        "tree_s_median": med("tree_s"),
        "eval_s_median": med("eval_s"),
        "tree_tokens_before_median": round(med("tree_chars") / CHARS_PER_TOKEN),
        "tree_tokens_after_median": round(med("shown_chars") / CHARS_PER_TOKEN),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks-dir", default=None)
    ap.add_argument("--per-app", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.tasks_dir is None:
        from lbi_icl.envs.desktop.benchmarks import DesktopTasksEnv

        args.tasks_dir = str(DesktopTasksEnv().tasks_dir)
    ids = _pick(args.tasks_dir, args.per_app)
    t0 = time.perf_counter()
    one = [_episode(args.tasks_dir, tid) for tid in ids]
    wall1 = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        two = list(pool.map(_episode, [args.tasks_dir] * len(ids), ids))
    wall2 = time.perf_counter() - t0
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "command": " ".join([sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "model": "offline, no LLM (the expert's scripted actions)",
        "workers_1": {
            **_summary(one),
            "wall_s": round(wall1, 1),
            "episodes_per_hour": round(len(one) * 3600 / wall1, 1),
        },
        "workers_2": {
            **_summary(two),
            "wall_s": round(wall2, 1),
            "episodes_per_hour": round(len(two) * 3600 / wall2, 1),
        },
        "episodes": one,
    }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "episodes"}, indent=1))


if __name__ == "__main__":
    main()
