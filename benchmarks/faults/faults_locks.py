"""Fault cases of locks and killed sessions: held outputs, stale locks, `kill -9` of runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from faults_harness import (
    CODE,
    FIXTURES,
    Result,
    Workspace,
    lbi,
    one_line_error,
    run_args,
    start_holder,
)


# ------------------------------------------------------------------ item 1: locks
def _held(ws: Workspace, target: Path, argv: list[str]) -> Result:
    holder = start_holder(target)
    try:
        rc, _, err = lbi(*argv)
        return one_line_error(rc, err, f"pid {holder.pid}", "started")
    finally:
        holder.kill()
        holder.wait()


def case_lock_run(ws: Workspace) -> Result:
    out = ws.fresh() / "run"
    return _held(ws, out, run_args(out))


def case_lock_synth(ws: Workspace) -> Result:
    out = ws.fresh() / "data.jsonl"
    argv = ["synthesize", "--env", "babyai", "--tasks", "2", "--out", str(out), "--no-progress"]
    return _held(ws, out, argv)


def case_lock_index(ws: Workspace) -> Result:
    out = ws.fresh() / "idx"
    argv = ["index", "build", "--trajectories", str(FIXTURES / "trajectories.jsonl")]
    return _held(ws, out, [*argv, "--out", str(out), "--embedder", "hash:64"])


def case_lock_stale(ws: Workspace) -> Result:
    out = ws.fresh() / "run"
    holder = start_holder(out)
    holder.kill()  # SIGKILL: the lock file stays, naming a dead pid
    holder.wait()
    stale = (out.parent / ".run.lock").exists()
    rc, _, err = lbi("-v", *run_args(out, "--retrieval", "none"))
    took = "stale lock" in err
    return Result(
        f"lock file left: {stale}; exit {rc}; takeover logged: {took}", stale and rc == 0 and took
    )


def case_lock_two_runs(ws: Workspace) -> Result:
    """Two real `lbi run` into one --out at the same time: exactly one runs."""
    out = ws.fresh() / "run"
    cmd = [sys.executable, "-m", "lbi_icl.cli", *run_args(out, "--tasks", "3", "--max-steps", "64")]
    procs = [
        subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=CODE
        )
        for _ in range(2)
    ]
    rcs, errs = [], []
    for p in procs:
        _, e = p.communicate(timeout=240)
        rcs.append(p.returncode)
        errs.append(e)
    lines = (out / "episodes.jsonl").read_text().splitlines() if out.exists() else []
    named = any("in use by another lbi process" in e for e in errs)
    ok = sorted(rcs) == [0, 1] and named and len(lines) == 3
    return Result(f"exit codes {sorted(rcs)}; {len(lines)} episode lines (3 planned)", ok)


# ------------------------------------------------------------------ item 7: leaked workers
def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def case_kill9_workers(ws: Workspace) -> Result:
    out = ws.fresh() / "run"
    argv = run_args(out, "--tasks", "100", "--max-steps", "300", "--workers", "2")
    p = subprocess.Popen(
        [sys.executable, "-m", "lbi_icl.cli", *argv, "--parallel", "process"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=CODE,
    )
    kids: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(kids) < 3 and p.poll() is None:
        kids = _children(p.pid)  # 2 workers + the resource tracker
        time.sleep(0.2)
    time.sleep(2.0)  # let the workers import and start episodes
    kids = _children(p.pid)
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    left = [k for k in kids if _alive(k)]
    for k in left:
        os.kill(k, signal.SIGKILL)
    ok = len(kids) >= 2 and not left
    return Result(f"{len(kids)} children before kill -9; alive 15 s later: {len(left)}", ok)


# ------------------------------------------------------------------ item 8: kill -9 then rerun
def case_killed_session(ws: Workspace) -> Result:
    d = ws.fresh()
    out = d / "run"
    cmd = [
        sys.executable,
        "-m",
        "lbi_icl.cli",
        # enough episodes that the run is still going when its first one is written (4 could
        # all finish within one poll on an idle machine, and there was nothing left to kill)
        *run_args(out, "--tasks", "40", "--max-steps", "64"),
    ]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=CODE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out / "episodes.jsonl").exists():
        time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    (out / ".episodes.jsonl.abc.tmp").write_text("half")  # an interrupted atomic write
    rc, _, _ = lbi(*run_args(out, "--tasks", "40", "--max-steps", "64"))
    sessions = json.loads((out / "manifest.json").read_text())["sessions"]
    states = [s["status"] for s in sessions]
    tmp_left = list(out.rglob("*.tmp"))
    ok = rc == 0 and states[0] == "killed" and states[-1] == "complete" and not tmp_left
    return Result(f"sessions {states}; .tmp left: {len(tmp_left)}", ok)
