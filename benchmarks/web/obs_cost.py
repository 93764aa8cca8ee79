"""What a screenshot observation costs per step: `obs=som` (a set-of-marks PNG written per
step) against `obs=axtree` (text only), in the same run, the same tasks and seeds and the
same actions (the scripted expert's), the two modes alternating within every repeat so
machine load hits both alike. Reported: step and reset p50/p95 per mode, their ratio, and
the PNG size. Offline, no LLM.

    python benchmarks/web/obs_cost.py --tasks click-button,enter-text,click-checkboxes --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else float("nan")


def episode(
    env: MiniWoBEnv, task: Any, actions: list[str] | None
) -> tuple[float, list[float], list[str]]:
    t0 = time.perf_counter()
    env.reset(task)
    reset_s = time.perf_counter() - t0
    steps, taken = [], []
    for i in range(10):
        if actions is not None and i >= len(actions):
            break
        action = actions[i] if actions is not None else env._call("expert_action", timeout_s=60)
        if action is None:
            break
        t0 = time.perf_counter()
        res = env.step(str(action))
        steps.append(time.perf_counter() - t0)
        taken.append(str(action))
        if res.done:
            break
    return reset_s, steps, taken


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="click-button,enter-text,click-checkboxes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout-ms", type=int, default=30000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    names = args.tasks.split(",")
    shots = Path(tempfile.mkdtemp(prefix="lbi-obs-cost-"))
    common = {"task_names": names, "timeout_ms": args.timeout_ms}
    envs = {
        "axtree": MiniWoBEnv(**common),
        "som": MiniWoBEnv(obs="som", screenshot_dir=str(shots), **common),
    }
    tasks = envs["axtree"].tasks("test")[: len(names)]
    times: dict[str, dict[str, list[float]]] = {m: {"reset": [], "step": []} for m in envs}
    load0, started, t_all = (
        os.getloadavg(),
        datetime.now(UTC).isoformat(timespec="seconds"),
        time.perf_counter(),
    )
    try:
        # the expert's actions per task, once (not timed): both modes replay them
        plan = {t.id: episode(envs["axtree"], t, None)[2] for t in tasks}
        for r in range(args.repeats):
            for task in tasks:
                for mode in ("axtree", "som") if r % 2 == 0 else ("som", "axtree"):
                    reset_s, steps, _ = episode(envs[mode], task, plan[task.id])
                    times[mode]["reset"].append(reset_s)
                    times[mode]["step"].extend(steps)
                print(f"repeat {r} {task.id}: {len(plan[task.id])} actions", flush=True)
    finally:
        for env in envs.values():
            env.close()
    pngs = [p.stat().st_size for p in shots.rglob("*.png")]
    out = {
        "started_at": started,
        "wall_s": round(time.perf_counter() - t_all, 1),
        "load_avg_start": load0,
        "load_avg_end": os.getloadavg(),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "command": " ".join(["python", *sys.argv]),
        "modes": {
            m: {
                k: {"n": len(v), "p50": round(pct(v, 0.5), 3), "p95": round(pct(v, 0.95), 3)}
                for k, v in t.items()
            }
            for m, t in times.items()
        },
        "step_ratio_p50": round(
            pct(times["som"]["step"], 0.5) / pct(times["axtree"]["step"], 0.5), 3
        ),
        "reset_ratio_p50": round(
            pct(times["som"]["reset"], 0.5) / pct(times["axtree"]["reset"], 0.5), 3
        ),
        "png_bytes_mean": round(statistics.mean(pngs)) if pngs else None,
        "pngs": len(pngs),
    }
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
