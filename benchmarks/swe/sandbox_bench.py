"""What the swe sandbox costs: the same commands and the same episodes with `sandbox=on`
(bubblewrap, unprivileged user) and `sandbox=off`, interleaved in one run so load hits
both alike, as ratios; plus the grading time per instance (clean checkout + test run).

    python benchmarks/swe/sandbox_bench.py [--tasks DIR] [--split test] [--rounds 10]
        [--episodes 6] [--json OUT]

Without --tasks it builds the fixture task set (tests/fixtures/swe_project) into a
temporary folder first (offline). An episode = reset, the commands below, submit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parents[1]))
sys.path.insert(0, str(ROOT))

from bench import COMMANDS, fixture_tasks, pct  # noqa: E402

from lbi_icl.envs import make_env  # noqa: E402


def _file_of(env, task) -> str:
    rec = env._records[task.id][0]
    mutation = getattr(rec, "mutation", None)
    if isinstance(mutation, list) and mutation:
        mutation = mutation[0]
    return mutation["file"] if isinstance(mutation, dict) else "."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=Path, help="task-set folder (default: build the fixture)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--rounds", type=int, default=10, help="times each command is timed")
    ap.add_argument("--episodes", type=int, default=6, help="episodes per setting")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lbi-swe-sandbox-bench-"))
    tasks_dir = args.tasks or fixture_tasks(tmp)
    cache = str(tmp / "cache")
    envs = {
        mode: make_env("swe", tasks_file=str(tasks_dir), cache_dir=cache, sandbox=mode)
        for mode in ("on", "off")
    }
    tasks = envs["on"].tasks(args.split)
    for env in envs.values():
        env.tasks(args.split)
    cmds = [c.format(file=_file_of(envs["on"], tasks[0])) for c in COMMANDS]

    # per command: both envs reset on the same task, commands interleaved on/off
    step: dict[str, dict[str, list[float]]] = {m: {c: [] for c in COMMANDS} for m in envs}
    for env in envs.values():
        env.reset(tasks[0])
    for _ in range(args.rounds):
        for tmpl, cmd in zip(COMMANDS, cmds, strict=True):
            for mode, env in envs.items():
                t0 = time.perf_counter()
                env.step(cmd)
                step[mode][tmpl].append(time.perf_counter() - t0)

    # per episode: reset, the commands, submit; on and off alternate task by task
    episode: dict[str, list[float]] = {m: [] for m in envs}
    reset: dict[str, list[float]] = {m: [] for m in envs}
    grade: dict[str, list[float]] = {m: [] for m in envs}
    tests: dict[str, list[float]] = {m: [] for m in envs}
    for i in range(args.episodes):
        task = tasks[i % len(tasks)]
        for mode, env in envs.items():
            t0 = time.perf_counter()
            env.reset(task)
            t1 = time.perf_counter()
            for cmd in cmds:
                env.step(cmd)
            t2 = time.perf_counter()
            res = env.step("submit")
            t3 = time.perf_counter()
            reset[mode].append(t1 - t0)
            grade[mode].append(t3 - t2)
            tests[mode].append(float(res.info.get("test_seconds", 0.0)))
            episode[mode].append(t3 - t0)
    for env in envs.values():
        env.close()

    console = Console(width=150)
    t = Table(title="swe sandbox: env.step p50 ms, sandbox=on vs off (interleaved, same run)")
    for col in ("command", "on p50", "on p95", "off p50", "off p95", "ratio p50 (on/off)"):
        t.add_column(col)
    rows: dict[str, dict[str, float]] = {}
    for c in [*COMMANDS, "ALL"]:
        on = [x for v in step["on"].values() for x in v] if c == "ALL" else step["on"][c]
        off = [x for v in step["off"].values() for x in v] if c == "ALL" else step["off"][c]
        row = {
            "on_p50_ms": pct(on, 0.5) * 1e3,
            "on_p95_ms": pct(on, 0.95) * 1e3,
            "off_p50_ms": pct(off, 0.5) * 1e3,
            "off_p95_ms": pct(off, 0.95) * 1e3,
        }
        row["ratio_p50"] = row["on_p50_ms"] / row["off_p50_ms"]
        rows[c] = row
        t.add_row(c, *(f"{v:.1f}" for v in list(row.values())[:4]), f"{row['ratio_p50']:.2f}x")
    console.print(t)
    e = Table(title=f"swe sandbox: per episode (reset + {len(cmds)} commands + submit), p50 s")
    for col in ("measure", "on", "off", "ratio (on/off)"):
        e.add_column(col)
    per_episode: dict[str, dict[str, float]] = {}
    for name, data in (("episode", episode), ("reset", reset), ("grade (submit)", grade),
                       ("test run inside grade", tests)):  # fmt: skip
        on, off = pct(data["on"], 0.5), pct(data["off"], 0.5)
        per_episode[name] = {"on_p50_s": on, "off_p50_s": off, "ratio": on / off if off else 0}
        e.add_row(name, f"{on:.3f}", f"{off:.3f}", f"{per_episode[name]['ratio']:.2f}x")
    console.print(e)
    info = {"episodes": args.episodes, "rounds": args.rounds, "cpus": os.cpu_count(),
            "load_avg": os.getloadavg()}  # fmt: skip
    console.print(info)
    if args.json:
        args.json.write_text(
            json.dumps({"commands": rows, "episode": per_episode, "info": info}, indent=2)
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
