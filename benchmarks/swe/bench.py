"""swe environment overheads: workspace set-up, per-action latency against the bare cost of
the same shell commands (same workspace, same run, interleaved), grading, disk per workspace.

    python benchmarks/swe/bench.py [--tasks DIR] [--resets 10] [--rounds 10] [--json OUT]
        [--sandbox off|on]

`--sandbox off` (the default here) keeps what this script has always compared: the step
wrapper against a bare `bash -c`; `sandbox_bench.py` compares sandbox on vs off.

Without --tasks it builds the fixture task set (tests/fixtures/swe_project) into a temporary
folder first (offline). Prints rich tables; --json writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lbi_icl.envs import make_env  # noqa: E402
from lbi_icl.envs.swe.taskset.build import BuildConfig, build_taskset  # noqa: E402
from lbi_icl.envs.swe.workspace import ensure_venv  # noqa: E402

COMMANDS = [
    "ls",
    "git status --short",
    "grep -rn 'def ' --include='*.py' . | head -20",
    "sed -n '1,40p' {file}",
    "cat {file} | wc -l",
    "python -c 'pass'",
    "git diff",
]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fixture_tasks(root: Path) -> Path:
    spec = {
        "projects": [
            {
                "name": "calc",
                "path": str(ROOT / "tests" / "fixtures" / "swe_project"),
                "split": "test",
                "sources": ["minicalc"],
                "tests": ["tests/check_core.py"],
                "docs": ["README.md"],
            }
        ]
    }
    (root / "spec.json").write_text(json.dumps(spec))
    cfg = BuildConfig(
        out=root / "tasks",
        spec=root / "spec.json",
        seed=1,
        per_project=2,
        max_candidates=3,
        workers=1,
        cache_dir=root / "cache",
    )
    build_taskset(cfg)
    return root / "tasks"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=Path, help="task-set folder (default: build the fixture)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--resets", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=10, help="times each command is timed")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sandbox", choices=["off", "on"], default="off")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lbi-swe-bench-"))
    tasks_dir = args.tasks or fixture_tasks(tmp)
    cache = tmp / "cache"
    # a cold virtualenv (the first episode of a project pays it once)
    t0 = time.perf_counter()
    ensure_venv(tmp / "cold-cache", "coldproject")
    venv_cold_s = time.perf_counter() - t0

    env = make_env("swe", tasks_file=str(tasks_dir), cache_dir=str(cache), sandbox=args.sandbox)
    tasks = env.tasks(args.split)
    env_reset: list[float] = []
    disk: list[int] = []
    action: dict[str, list[float]] = {c: [] for c in COMMANDS}
    bare: dict[str, list[float]] = {c: [] for c in COMMANDS}
    login: dict[str, list[float]] = {c: [] for c in COMMANDS}
    grade_s: list[float] = []
    for i in range(args.resets):
        task = tasks[i % len(tasks)]
        t0 = time.perf_counter()
        env.reset(task)
        env_reset.append(time.perf_counter() - t0)
        ws = env.ws
        assert ws is not None
        disk.append(ws.disk_bytes())
        if i == 0:
            rec = env._records[task.id][0]
            file = json.loads(json.dumps(rec.mutation))["file"] if hasattr(rec, "mutation") else "."
            cmds = [c.format(file=file) for c in COMMANDS]
            shell_env = ws.shell_env()
            for _ in range(args.rounds):
                for tmpl, cmd in zip(COMMANDS, cmds, strict=True):
                    t0 = time.perf_counter()
                    env.step(cmd)
                    action[tmpl].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    subprocess.run(
                        ["bash", "-c", cmd],
                        cwd=ws.path,
                        env=shell_env,
                        capture_output=True,
                        check=False,
                    )
                    bare[tmpl].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    subprocess.run(
                        ["bash", "-lc", cmd],
                        cwd=ws.path,
                        env=shell_env,
                        capture_output=True,
                        check=False,
                    )
                    login[tmpl].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        env.step("submit")
        grade_s.append(time.perf_counter() - t0)
    env.close()

    console = Console(width=150)
    t = Table(
        title="swe: per-action latency, env.step vs bare `bash -c` (same workspace, "
        "interleaved); `bash -lc` = the login shell alone"
    )
    cols = ["command", "step p50 ms", "step p95 ms", "bare p50 ms", "bare p95 ms"]
    for col in [*cols, "bash -lc p50 ms", "ratio p50 (step/bare)"]:
        t.add_column(col)
    rows = {}
    all_step = [x for v in action.values() for x in v]
    all_bare = [x for v in bare.values() for x in v]
    all_login = [x for v in login.values() for x in v]
    for c in [*COMMANDS, "ALL"]:
        s = all_step if c == "ALL" else action[c]
        b = all_bare if c == "ALL" else bare[c]
        lg = all_login if c == "ALL" else login[c]
        row = {
            "step_p50_ms": pct(s, 0.5) * 1e3,
            "step_p95_ms": pct(s, 0.95) * 1e3,
            "bare_p50_ms": pct(b, 0.5) * 1e3,
            "bare_p95_ms": pct(b, 0.95) * 1e3,
            "login_p50_ms": pct(lg, 0.5) * 1e3,
        }
        row["ratio_p50"] = row["step_p50_ms"] / row["bare_p50_ms"]
        rows[c] = row
        t.add_row(c, *(f"{row[k]:.1f}" for k in list(row)[:5]), f"{row['ratio_p50']:.2f}x")
    console.print(t)
    s = Table(title="swe: workspace")
    s.add_column("measure")
    s.add_column("value")
    summary = {
        "reset_p50_s": pct(env_reset, 0.5),
        "reset_p95_s": pct(env_reset, 0.95),
        "venv_cold_s": venv_cold_s,
        "disk_per_workspace_kib": statistics.median(disk) / 1024,
        "grade_p50_s": pct(grade_s, 0.5),
        "resets": len(env_reset),
        "cpus": os.cpu_count(),
    }
    for k, v in summary.items():
        s.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(s)
    if args.json:
        args.json.write_text(json.dumps({"actions": rows, "workspace": summary}, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
