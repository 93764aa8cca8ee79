"""Web env benchmark: the `miniwob` adapter against the raw BrowserGym gym env, same run.

For each task: reset, then replay the same action sequence (the adapter's first `--steps`
candidate clicks, fixed once) in both. Reported per task and overall: reset and step
latency p50/p95, AXTree size (flattened characters, lines), and the memory of the browser
processes (worker, Playwright driver and both Chromium instances, measured after reset):
PSS summed (shared pages split, what they really cost) and RSS summed (an upper bound).
The raw env runs in this process with the same
Chromium launch (executable + flags; it cannot start otherwise here); the adapter runs in
its worker process, so its numbers include the pipe round trip and the text rendering.
Runs alternate adapter / raw per repeat (even repeats adapter first, odd repeats raw
first) so machine load and order hit both alike. The per-task ratios are the fair
comparison: the overall p50 pools tasks of different speeds.
Each adapter step is also split where it happens: BrowserGym's `env.step` timed inside the
worker (`inner_step`) and the rest of the wall time (`overhead`: AXTree text rendering,
bookkeeping, pickling, the pipe round trip; `render` is the text part alone), so the
adapter's own cost is read off the same steps, free of the load drift between two runs.
Resets likewise: `reset_overhead` = wall time minus the worker's timed close of the previous
episode and BrowserGym's `env.reset` (what is left: `gym.make`, rendering, the pid report,
the pipe).

    python benchmarks/web/bench.py --tasks click-button,enter-text,click-checkboxes \
        --repeats 3 --steps 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

from lbi_icl.envs.browsergym import procs
from lbi_icl.envs.browsergym.launch import (
    CHROMIUM_FLAGS,
    OFFLINE_FLAG,
    patch_playwright_launch,
    require_chromium,
)
from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv, miniwob_html_dir
from lbi_icl.envs.browsergym.session import step_phases
from lbi_icl.envs.browsergym.text import flatten_tree

PHASES = ("action_s", "page_wait_s", "validate_s", "observe_s")


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))
    return xs[k]


def raw_env_factory() -> Any:
    os.environ.setdefault("MINIWOB_URL", miniwob_html_dir().as_uri() + "/")
    import browsergym.miniwob  # noqa: F401
    import gymnasium as gym
    from browsergym.core import _get_global_playwright

    patch_playwright_launch(
        _get_global_playwright(), require_chromium(), (*CHROMIUM_FLAGS, OFFLINE_FLAG)
    )

    def make(name: str) -> Any:
        return gym.make(f"browsergym/miniwob.{name}", headless=True)

    return make


def raw_episode(raw: Any, seed: int, plan: list[str], rec: dict[str, Any]) -> None:
    """One timed episode of the raw BrowserGym env: reset, then the plan's steps."""
    t0 = time.perf_counter()
    obs, _ = raw.reset(seed=seed)
    rec["raw_reset"].append(time.perf_counter() - t0)
    rec["raw_tree_chars"] = len(flatten_tree(obs))
    for action in plan:
        t0 = time.perf_counter()
        _, _, term, trunc, info = raw.step(action)
        rec["raw_step"].append(time.perf_counter() - t0)
        for phase, secs in step_phases(info).items():
            rec.setdefault(f"raw_{phase}", []).append(secs)
        if term or trunc:
            break


def run(tasks: list[str], repeats: int, n_steps: int) -> dict[str, Any]:
    adapter = MiniWoBEnv(task_names=tasks)
    # The adapter's worker is forked at its first reset: do that before this process
    # starts Playwright for the raw env (a fork of a process running Playwright's driver
    # threads can hang).
    adapter.reset(adapter.tasks("test")[0])
    make_raw = raw_env_factory()
    per: dict[str, dict[str, Any]] = {}
    try:
        for name in tasks:
            task = adapter.tasks("test")[tasks.index(name)]
            seed = int(task.metadata["seed"])
            adapter.reset(task)
            plan = [a for a in adapter.valid_actions() or [] if a.startswith("click")][:n_steps]
            rec: dict[str, Any] = {
                "adapter_reset": [],
                "adapter_step": [],
                "raw_reset": [],
                "raw_step": [],
                "inner_step": [],
                "render": [],
                "overhead": [],
                "reset_overhead": [],
                "plan": plan,
            }
            # one raw env per task, reset again every repeat: like the adapter's, its reset
            # then also closes the previous episode's browsers (warm-up reset not timed)
            raw = make_raw(name)
            raw.reset(seed=seed)
            for rep in range(repeats):
                if rep % 2:  # odd repeats: raw first, so neither side always goes first
                    raw_episode(raw, seed, plan, rec)
                t0 = time.perf_counter()
                adapter.reset(task)
                wall = time.perf_counter() - t0
                rec["adapter_reset"].append(wall)
                timing = adapter.last_stats.get("timing") or {}
                inner = float(timing.get("close_s", 0.0)) + float(timing.get("env_reset_s", 0.0))
                rec["reset_overhead"].append(wall - inner if inner else float("nan"))
                rec["tree_chars"] = adapter.last_stats.get("tree_chars")
                tree = adapter.observation.split("Accessibility tree:\n", 1)[-1]
                rec["tree_lines"] = tree.count("\n") + 1
                pids = adapter.browser_pids()
                rec["browser_processes"] = len(pids)
                rec["browser_rss_mb"] = round(procs.rss_mb(pids), 1)
                rec["browser_pss_mb"] = round(procs.pss_mb(pids), 1)
                for action in plan:
                    t0 = time.perf_counter()
                    res = adapter.step(action)
                    wall = time.perf_counter() - t0
                    rec["adapter_step"].append(wall)
                    timing = adapter.last_stats.get("timing") or {}
                    # the same step, split: BrowserGym's env.step inside the worker, and the
                    # rest (text rendering, bookkeeping, pickling, the pipe round trip)
                    rec["inner_step"].append(float(timing.get("env_step_s", wall)))
                    rec["render"].append(float(timing.get("render_s", 0.0)))
                    rec["overhead"].append(wall - float(timing.get("env_step_s", wall)))
                    for phase in PHASES:
                        if phase in timing:
                            rec.setdefault(f"adapter_{phase}", []).append(float(timing[phase]))
                    if res.done:
                        break
                if not rep % 2:
                    raw_episode(raw, seed, plan, rec)
            raw.close()
            per[name] = rec
    finally:
        adapter.close()
    return per


def summarize(per: dict[str, Any]) -> dict[str, Any]:
    def allof(key: str) -> list[float]:
        return [x for r in per.values() for x in r.get(key, [])]

    keys = ["adapter_reset", "raw_reset", "adapter_step", "raw_step"]
    keys += ["inner_step", "render", "overhead", "reset_overhead"]
    # inside BrowserGym's step, adapter (worker) vs raw
    keys += [f"{side}_{phase}" for phase in PHASES for side in ("adapter", "raw")]
    out: dict[str, Any] = {}
    for key in keys:
        xs = allof(key)
        out[key] = {"n": len(xs), "p50_s": pct(xs, 0.5), "p95_s": pct(xs, 0.95)}
    for kind in ("reset", "step"):
        a, r = out[f"adapter_{kind}"]["p50_s"], out[f"raw_{kind}"]["p50_s"]
        out[f"{kind}_ratio_p50"] = a / r if r else float("nan")
    # the same steps measured twice: the adapter's wall time over the BrowserGym env.step it
    # wraps (no load drift between two different runs in this ratio)
    ratios = [w / i for w, i in zip(allof("adapter_step"), allof("inner_step"), strict=True) if i]
    out["step_over_inner_p50"] = pct(ratios, 0.5)
    out["step_over_inner_p95"] = pct(ratios, 0.95)
    out["browser_pss_mb_per_worker"] = statistics.median(r["browser_pss_mb"] for r in per.values())
    out["browser_rss_sum_mb_per_worker"] = statistics.median(
        r["browser_rss_mb"] for r in per.values()
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="click-button,enter-text,click-checkboxes,choose-list")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.time()
    per = run(tasks, args.repeats, args.steps)
    summary = summarize(per)
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"miniwob adapter vs raw BrowserGym ({args.repeats} repeats)")
    for col in (
        "task",
        "tree chars",
        "tree lines",
        "reset a/raw p50 (s)",
        "step a/raw p50 (s)",
        "ratio reset / step",
        "browser PSS MB",
        "procs",
    ):
        t.add_column(col)
    for name, r in per.items():
        t.add_row(
            name,
            str(r["tree_chars"]),
            str(r["tree_lines"]),
            f"{pct(r['adapter_reset'], 0.5):.2f} / {pct(r['raw_reset'], 0.5):.2f}",
            f"{pct(r['adapter_step'], 0.5):.2f} / {pct(r['raw_step'], 0.5):.2f}",
            f"{pct(r['adapter_reset'], 0.5) / pct(r['raw_reset'], 0.5):.2f} / "
            f"{pct(r['adapter_step'], 0.5) / pct(r['raw_step'], 0.5):.2f}",
            str(r["browser_pss_mb"]),
            str(r["browser_processes"]),
        )
    console = Console(width=120)
    console.print(t)
    for key in ("adapter_reset", "raw_reset", "adapter_step", "raw_step", "inner_step"):
        s = summary[key]
        console.print(f"{key:14s} n={s['n']:3d}  p50 {s['p50_s']:.3f} s  p95 {s['p95_s']:.3f} s")
    for key in ("overhead", "render", "reset_overhead"):
        s = summary[key]
        console.print(
            f"{key:14s} n={s['n']:3d}  p50 {1000 * s['p50_s']:.1f} ms  "
            f"p95 {1000 * s['p95_s']:.1f} ms"
        )
    for phase in PHASES:
        a, r = summary[f"adapter_{phase}"], summary[f"raw_{phase}"]
        console.print(
            f"  BrowserGym {phase[:-2]:10s} p50 adapter {1000 * a['p50_s']:.0f} ms / raw "
            f"{1000 * r['p50_s']:.0f} ms"
        )
    console.print(
        f"adapter step / its own BrowserGym env.step (same steps): p50 "
        f"{summary['step_over_inner_p50']:.3f}x, p95 {summary['step_over_inner_p95']:.3f}x"
    )
    console.print(
        f"adapter/raw p50: reset {summary['reset_ratio_p50']:.2f}x, "
        f"step {summary['step_ratio_p50']:.2f}x; browser memory per worker (PSS) "
        f"{summary['browser_pss_mb_per_worker']:.0f} MB (RSS summed: "
        f"{summary['browser_rss_sum_mb_per_worker']:.0f} MB); load avg at start {load:.1f}; "
        f"{time.time() - t0:.0f} s wall"
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "per_task": per,
                    "summary": summary,
                    "load_at_start": load,
                    "machine": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
