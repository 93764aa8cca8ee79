"""Fault-injection suite for issue 10: every failure a hostile-but-realistic user met, run
against the real `lbi` command, with a table of case / expected / observed / pass.

    python benchmarks/faults/faults.py            # all cases (about 1-3 min on 2 cores)
    python benchmarks/faults/faults.py --item 2   # one item's cases

`tests/test_faults.py` runs the same cases under pytest. Every case runs `lbi` in a child
process (`python -m lbi_icl.cli`), so exit codes, stderr and logs are the real ones.
Offline: BabyAI, the hash embedder, scripted LLMs and a loopback OpenAI stub only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# the checkout whose `lbi` is tested (default: this one); LBI_FAULTS_CODE=/work/main runs the
# same cases against another checkout, e.g. to show they fail on the old code
CODE = Path(os.environ.get("LBI_FAULTS_CODE", ROOT))
if "LBI_FAULTS_CODE" in os.environ:  # child processes and in-process cases use that code
    os.environ["PYTHONPATH"] = str(CODE)
    sys.path.insert(0, str(CODE))
FIXTURES = ROOT / "tests" / "fixtures" / "retrieval"
LEVEL = '["BabyAI-GoToLocal-v0"]'


@dataclass
class Result:
    observed: str
    ok: bool


@dataclass
class Case:
    item: int
    name: str
    expected: str
    run: Callable[[Workspace], Result]
    issue: int = 10  # 10: round 1 (this file); 22: round 2 (faults2.py)


class Workspace:
    """A fresh folder per case, plus a clean index built once per suite."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root
        self._n = 0

    def fresh(self) -> Path:
        self._n += 1
        self.dir = self.root / f"case{self._n}"
        self.dir.mkdir(parents=True)
        return self.dir

    def clean_index(self) -> Path:
        src = self.root / "clean-index"
        if not (src / "manifest.json").exists():
            rc, _, err = lbi(
                "index",
                "build",
                "--trajectories",
                str(FIXTURES / "trajectories.jsonl"),
                "--docs",
                str(FIXTURES / "docs.jsonl"),
                "--out",
                str(src),
                "--embedder",
                "hash:64",
            )
            assert rc == 0, err
        dst = self.dir / "index"
        shutil.copytree(src, dst)  # copy2: mtimes kept, so the verify stamp still holds
        return dst


def lbi(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 240, cwd: Path | None = None
) -> tuple[int, str, str]:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(CODE), **(env or {})}
    p = subprocess.run(
        [sys.executable, "-m", "lbi_icl.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or CODE,
    )
    return p.returncode, p.stdout, p.stderr


def one_line_error(rc: int, err: str, *names: str) -> Result:
    """Exit 1, no traceback, and the message names every one of `names`."""
    first = next((ln for ln in err.splitlines() if ln.startswith("error")), err.strip()[:200])
    ok = rc == 1 and "Traceback" not in err and all(n in err for n in names)
    return Result(f"exit {rc}: {first[:160]}", ok)


def run_args(out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--env",
        "babyai",
        "--split",
        "test",
        "--tasks",
        "2",
        "--max-steps",
        "3",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


# ------------------------------------------------------------------ item 1: locks
HOLDER = (
    "import sys, time\nfrom lbi_icl.util.locks import hold\n"
    "with hold(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n"
)


def _holder(target: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True, cwd=CODE
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def _held(ws: Workspace, target: Path, argv: list[str]) -> Result:
    holder = _holder(target)
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
    holder = _holder(out)
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


# ------------------------------------------------------------------ item 2: index damage
def _rewrite_npy(path: Path, change: Callable[[np.ndarray], None], keep_mtime: bool) -> None:
    st = path.stat()
    arr = np.load(path, allow_pickle=False)
    change(arr)
    with open(path, "wb") as fh:  # same shape and dtype: same size
        np.save(fh, arr, allow_pickle=False)
    assert path.stat().st_size == st.st_size
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _query_fails(index: Path, field: str, name: str) -> Result:
    rc, _, err = lbi(
        "index", "query", str(index), "--field", field, "--text", "pot stove", "--json"
    )
    return one_line_error(rc, err, name)


def _damage_case(rel: str, change: Callable[[np.ndarray], None], field: str, keep: bool):
    def run(ws: Workspace) -> Result:
        ws.fresh()
        index = ws.clean_index()
        _rewrite_npy(index / rel, change, keep)
        return _query_fails(index, field, Path(rel).name)

    return run


def _set(pos: int, value: float) -> Callable[[np.ndarray], None]:
    def change(a: np.ndarray) -> None:
        a.reshape(-1)[pos] = value

    return change


def _flip_bit(pos: int) -> Callable[[np.ndarray], None]:
    def change(a: np.ndarray) -> None:
        a.reshape(-1)[pos] ^= 1

    return change


def case_verify(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    rc_ok, _, _ = lbi("index", "verify", str(index))
    blob = index / "steps_obs.bin"
    st = blob.stat()
    data = bytearray(blob.read_bytes())
    data[5] = ord("X") if data[5] != ord("X") else ord("Y")  # still UTF-8, same size
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    rc_bad, out, err = lbi("index", "verify", str(index))
    ok = rc_ok == 0 and rc_bad == 1 and "steps_obs.bin" in out and "Traceback" not in err
    return Result(f"clean: exit {rc_ok}; damaged blob: exit {rc_bad}, file named in table", ok)


def case_hash_at_load(ws: Workspace) -> Result:
    """A changed mtime makes the load hash the file: a text flip is caught without verify."""
    ws.fresh()
    index = ws.clean_index()
    blob = index / "steps_act.bin"
    data = bytearray(blob.read_bytes())
    data[0] = ord("Z") if data[0] != ord("Z") else ord("Q")
    blob.write_bytes(bytes(data))
    return _query_fails(index, "observation", "steps_act.bin")


# ------------------------------------------------------------------ item 3: exit codes
def case_llm_unreachable(ws: Workspace) -> Result:
    out = ws.fresh() / "run"
    t0 = time.monotonic()
    rc, _, err = lbi(
        *run_args(out, "--policy", "llm", "--llm", "openai:m"),
        "--llm-base-url",
        "http://127.0.0.1:9/v1",
    )
    dt = time.monotonic() - t0
    res = one_line_error(rc, err, "unreachable", "127.0.0.1:9")
    res.ok = res.ok and not out.exists() and dt < 60
    res.observed += f" ({dt:.0f} s, out dir created: {out.exists()})"
    return res


def _script(path: Path, responses: list[str]) -> Path:
    path.write_text(json.dumps({"responses": responses, "exhausted": "error"}))
    return path


def case_all_errors(ws: Workspace) -> Result:
    d = ws.fresh()
    script = _script(d / "s.json", ["Action: go forward"])
    out = d / "run"
    rc, _, err = lbi(
        *run_args(out, "--tasks", "12", "--policy", "llm", "--llm", f"scripted:{script}")
    )
    lines = (out / "episodes.jsonl").read_text().splitlines() if out.exists() else []
    # 3 equal failures stop scheduling; at most one episode per worker (1) was in flight
    ok = rc == 4 and 3 <= len(lines) <= 4 and "stopped early" in err
    return Result(f"exit {rc}; {len(lines)} of 12 episodes run before stopping", ok)


def case_some_errors(ws: Workspace) -> Result:
    d = ws.fresh()
    script = _script(d / "s.json", ["Action: go forward"] * 3)
    out = d / "run"
    rc, _, err = lbi(
        *run_args(out, "--tasks", "3", "--policy", "llm", "--llm", f"scripted:{script}")
    )
    return Result(
        f"exit {rc}: {err.strip().splitlines()[-1][:100] if err.strip() else ''}", rc == 3
    )


# ------------------------------------------------------------------ item 4: secrets
def case_secrets(ws: Workspace) -> Result:
    sys.path.insert(0, str(ROOT / "tests"))
    from llm_servers import OpenAIStubServer

    d = ws.fresh()
    secret, key = "pw-Zq81xK0secret", "sk-lbi-test-key-0451"
    with OpenAIStubServer(["Reason: go.\nAction: go forward"]) as srv:
        url = srv.base_url.replace("http://", f"http://user:{secret}@") + f"?api_key={secret}"
        out = d / "run"
        rc, so, se = lbi(
            "-v",
            "-v",
            *run_args(out, "--tasks", "1", "--policy", "llm", "--llm", "openai:m"),
            "--llm-base-url",
            url,
            env={"OPENAI_API_KEY": key},
        )
    leaks = [
        str(p.relative_to(d))
        for p in d.rglob("*")
        if p.is_file() and (secret.encode() in p.read_bytes() or key.encode() in p.read_bytes())
    ]
    logged = "HTTP Request" in se or "Request options" in se
    in_logs = secret in so + se or key in so + se
    ok = not leaks and not in_logs and logged and out.exists()
    return Result(
        f"exit {rc}; files with the secret: {leaks or 'none'}; in logs: {in_logs}; "
        f"request logged: {logged}",
        ok,
    )


# ------------------------------------------------------------------ item 5: tracebacks
def _bad_input(make: Callable[[Path], Path]):
    def run(ws: Workspace) -> Result:
        d = ws.fresh()
        path = make(d)
        rc1, _, e1 = lbi("data", "validate", str(path))
        rc2, _, e2 = lbi(
            "index",
            "build",
            "--trajectories",
            str(path),
            "--out",
            str(d / "i"),
            "--embedder",
            "hash:32",
        )
        a, b = one_line_error(rc1, e1, path.name), one_line_error(rc2, e2, path.name)
        return Result(f"validate {a.observed} | build {b.observed}", a.ok and b.ok)

    return run


def _binary(d: Path) -> Path:
    p = d / "garbage.jsonl"
    p.write_bytes(bytes(range(256)) * 8)
    return p


def _truncated_gz(d: Path) -> Path:
    p = d / "cut.jsonl.gz"
    data = gzip.compress((FIXTURES / "trajectories.jsonl").read_bytes())
    p.write_bytes(data[: len(data) // 2])
    return p


def _plain_gz(d: Path) -> Path:
    p = d / "plain.jsonl.gz"
    p.write_bytes((FIXTURES / "trajectories.jsonl").read_bytes())
    return p


def _directory(d: Path) -> Path:
    p = d / "adir.jsonl"
    p.mkdir()
    return p


def _deep(d: Path) -> Path:
    p = d / "deep.jsonl"
    p.write_text("[" * 200_000 + "]" * 200_000 + "\n")
    return p


def case_truncated_manifest(ws: Workspace) -> Result:
    d = ws.fresh()
    out = d / "run"
    rc0, _, _e0 = lbi(*run_args(out, "--tasks", "1", "--retrieval", "none"))
    m = out / "manifest.json"
    m.write_text(m.read_text()[:50])
    rc, _, err = lbi("report", str(out))
    res = one_line_error(rc, err, "manifest.json")
    res.ok = res.ok and rc0 == 0
    return res


def case_out_is_file(ws: Workspace) -> Result:
    d = ws.fresh()
    f = d / "afile"
    f.write_text("x")
    rc, _, err = lbi(*run_args(f, "--retrieval", "none"))
    return one_line_error(rc, err, "afile", "not a directory")


def case_synth_llm_unreachable(ws: Workspace) -> Result:
    d = ws.fresh()
    rc, _, err = lbi(
        "synthesize",
        "--env",
        "babyai",
        "--tasks",
        "1",
        "--out",
        str(d / "x.jsonl"),
        "--llm",
        "openai:m",
        "--no-progress",
        env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    return one_line_error(rc, err, "127.0.0.1:9")


# ------------------------------------------------------------------ item 6: one validator
def _line(traj: dict) -> str:
    return json.dumps(traj) + "\n"


def _traj(**kw: object) -> dict:
    base = {
        "id": "t1",
        "env": "toy",
        "instruction": "do it",
        "steps": [{"observation": "o", "action": "a"}],
    }
    base.update(kw)
    return base


def _validator_and_builder(make: Callable[[Path], Path], needle: str):
    def run(ws: Workspace) -> Result:
        d = ws.fresh()
        path = make(d)
        rc1, _, e1 = lbi("data", "validate", str(path))
        rc2, _, e2 = lbi(
            "index",
            "build",
            "--trajectories",
            str(path),
            "--out",
            str(d / "i"),
            "--embedder",
            "hash:32",
        )
        ok = rc1 == 1 and rc2 == 1 and needle in e1 and needle in e2
        ok = ok and "Traceback" not in e1 + e2 and not (d / "i").exists()
        return Result(f"validate exit {rc1}, build exit {rc2}; both say {needle!r}: {ok}", ok)

    return run


def _surrogate(d: Path) -> Path:
    p = d / "surrogate.jsonl"
    p.write_text(_line(_traj()).replace('"do it"', '"do \\ud800 it"'))
    return p


def _empty(d: Path) -> Path:
    p = d / "empty.jsonl"
    p.write_text("")
    return p


def _zero_steps(d: Path) -> Path:
    p = d / "zero.jsonl"
    p.write_text(_line(_traj(steps=[])))
    return p


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


# ------------------------------------------------------------------ item 8: flags and paths
def case_empty_strategies(ws: Workspace) -> Result:
    d = ws.fresh()
    argv = run_args(d / "run")
    argv[0] = "ablate"
    rc, _, err = lbi(*argv, "--strategies", "")
    return one_line_error(rc, err, "--strategies")


def case_k0(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    rc, _out, err = lbi(
        "index", "query", str(index), "--field", "observation", "--text", "x", "-k", "0"
    )
    return Result(f"exit {rc}: {err.strip().splitlines()[-1][:100]}", rc != 0 and ">= 1" in err)


def case_m1_zero(ws: Workspace) -> Result:
    d = ws.fresh()
    index = ws.clean_index()
    rc, _, err = lbi(
        *run_args(d / "run", "--retrieval", "observation", "--index", str(index)),
        "--set",
        "retrieval.m1=0",
    )
    res = one_line_error(rc, err, "retrieval.m1")
    res.ok = res.ok and not (d / "run").exists()
    return res


def case_help_example(ws: Workspace) -> Result:
    d = ws.fresh()
    _, help_text, _ = lbi("run", "--help")
    import re

    m = re.search(r"retrieval\.(\w+)=(\d+)", help_text.replace("\n", " "))
    assert m is not None, help_text
    rc, _, _err = lbi(
        *run_args(d / "run", "--tasks", "1", "--retrieval", "none"), "--set", m.group(0)
    )
    return Result(f"--help example {m.group(0)!r}: exit {rc}", rc == 0)


def case_report_not_run(ws: Workspace) -> Result:
    d = ws.fresh()
    (d / "notarun").mkdir()
    rc1, _, e1 = lbi("report", str(d / "notarun"), "--format", "html")
    rc2, _, e2 = lbi("export", str(d / "notarun"), "--out", str(d / "x.jsonl"))
    a, b = one_line_error(rc1, e1, "not a run directory"), one_line_error(rc2, e2, "not a run")
    wrote = any((d / "notarun").iterdir())
    return Result(
        f"report {a.observed} | export exit {rc2}; wrote into it: {wrote}",
        a.ok and b.ok and not wrote,
    )


def case_no_empty_out(ws: Workspace) -> Result:
    d = ws.fresh()
    a = ["run", "--env", "nosuchenv", "--tasks", "1", "--out", str(d / "r2")]
    rc2, _, _ = lbi(*a)
    b = run_args(d / "r3", "--retrieval", "observation", "--index", str(d / "missing"))
    rc3, _, _ = lbi(*b)
    made = [n for n in ("r2", "r3") if (d / n).exists()]
    ok = rc2 == 1 and rc3 == 1 and not made
    return Result(f"unknown env exit {rc2}, missing index exit {rc3}; dirs left: {made}", ok)


def case_index_overwrite(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    before = (index / "manifest.json").read_bytes()
    argv = [
        "index",
        "build",
        "--trajectories",
        str(FIXTURES / "heldout.jsonl"),
        "--out",
        str(index),
    ]
    rc, _, err = lbi(*argv, "--embedder", "hash:64")
    same = (index / "manifest.json").read_bytes() == before
    rc2, _, _ = lbi(*argv, "--embedder", "hash:64", "--overwrite")
    ok = rc == 1 and same and "--overwrite" in err and rc2 == 0
    return Result(f"without --overwrite exit {rc} (index kept: {same}); with it exit {rc2}", ok)


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


def case_strategy_lists(ws: Workspace) -> Result:
    d = ws.fresh()
    index = ws.clean_index()
    held = str(FIXTURES / "heldout.jsonl")
    base = ["eval-retrieval", "--index", str(index), "--heldout", held, "--json"]
    rc1, _, _e1 = lbi(*base, "--strategies", "observation,instruction")
    rc2, _, _e2 = lbi(*base, "--strategies", "observation", "instruction")
    argv = run_args(d / "run", "--tasks", "1", "--index", str(index))
    argv[0] = "ablate"
    rc3, _, _e3 = lbi(*argv, "--strategies", "none", "observation")
    ok = rc1 == 0 and rc2 == 0 and rc3 == 0
    return Result(f"eval commas {rc1}, eval spaces {rc2}, ablate spaces {rc3}", ok)


# ------------------------------------------------------------------ item 9: agentic budget
def case_agentic_budget(ws: Workspace) -> Result:
    d = ws.fresh()
    from lbi_icl.data import Step, Trajectory
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index import build_index_from, load_index
    from lbi_icl.retrieval import RetrievalConfig, make_retriever
    from lbi_icl.retrieval.base import StepContext

    words = [
        "kitchen",
        "stove",
        "pot",
        "water",
        "sink",
        "table",
        "chair",
        "door",
        "key",
        "box",
        "ball",
        "red",
        "blue",
        "green",
    ]
    trajs = []
    for i in range(40):
        steps = [
            Step(
                observation=" ".join(words[(i + j + k) % len(words)] for k in range(90)),
                action=f"act {i} {j}",
            )
            for j in range(6)
        ]
        trajs.append(
            Trajectory(id=f"t{i}", env="toy", instruction=f"task {i} {words[i % 14]}", steps=steps)
        )
    build_index_from(trajs, d / "idx", embedder=HashEmbedder(64))
    index = load_index(d / "idx", embedder=HashEmbedder(64))
    retriever = make_retriever("agentic", index, RetrievalConfig())  # the default config
    ctx = StepContext(
        instruction="boil water",
        observation=" ".join(words * 4),
        history=[],
        step=0,
        task_id="other",
        env="toy",
    )
    res = retriever.retrieve(ctx)
    kept = [it.strategy for it in res.items]
    gone = [it.strategy for it in res.dropped]
    ok = bool(gone) and "model" in kept and "observation" in kept
    ok = ok and abs(kept.count("model") - kept.count("observation")) <= 1
    return Result(f"kept {kept}; dropped {len(gone)} ({sorted(set(gone))})", ok)


def case_steplog_dropped(ws: Workspace) -> Result:
    ws.fresh()
    from lbi_icl.agent.base import StepLog

    ok = "dropped" in StepLog.model_fields
    return Result(f"StepLog has a 'dropped' field: {ok}", ok)


# ------------------------------------------------------------------ item 10: RAG from the CLI
def case_docs_beside(ws: Workspace) -> Result:
    d = ws.fresh()
    data = d / "babyai.jsonl"
    rc1, _, _e1 = lbi(
        "synthesize",
        "--env",
        "babyai",
        "--tasks",
        "2",
        "--out",
        str(data),
        "--no-progress",
        "--env-option",
        f"levels={LEVEL}",
    )
    docs = d / "babyai.docs.jsonl"
    rc2, o2, _e2 = lbi(
        "index",
        "build",
        "--trajectories",
        str(data),
        "--out",
        str(d / "idx"),
        "--embedder",
        "hash:64",
        "--json",
    )
    chunks = json.loads(o2[o2.index("{") :])["counts"]["chunks"] if rc2 == 0 else 0
    rc3, _, _ = lbi(
        *run_args(d / "run", "--tasks", "1", "--retrieval", "rag", "--index", str(d / "idx"))
    )
    ok = rc1 == 0 and docs.exists() and rc2 == 0 and chunks > 0 and rc3 == 0
    return Result(f"docs written: {docs.exists()}; index chunks {chunks}; rag run exit {rc3}", ok)


CASES: list[Case] = [
    Case(1, "run dir held by another process", "exit 1 naming pid, host, start", case_lock_run),
    Case(1, "dataset held by another process", "exit 1 naming the holder", case_lock_synth),
    Case(1, "index held by another process", "exit 1 naming the holder", case_lock_index),
    Case(1, "stale lock of a kill -9'd holder", "taken over, logged, exit 0", case_lock_stale),
    Case(
        1,
        "two `lbi run` into one --out",
        "one runs, one exits 1; no duplicates",
        case_lock_two_runs,
    ),
    Case(
        2,
        "steps_example.npy id out of range (mtime kept)",
        "exit 1 naming the file",
        _damage_case("steps_example.npy", _set(3, 10_000), "observation", True),
    ),
    Case(
        2,
        "steps_obs.off.npy offset flipped (mtime kept)",
        "exit 1 naming the file",
        _damage_case("steps_obs.off.npy", _set(2, 1 << 40), "observation", True),
    ),
    Case(
        2,
        "bm25 indices flipped (mtime kept)",
        "exit 1 naming the file",
        _damage_case("bm25_steps/indices.csc.index.npy", _set(0, 99_999), "observation", True),
    ),
    Case(
        2,
        "NaN in vec_instruction.npy (mtime kept)",
        "exit 1 naming the file",
        _damage_case("vec_instruction.npy", _set(5, float("nan")), "instruction", True),
    ),
    Case(
        2,
        "steps_example.npy flipped (mtime changed)",
        "hash mismatch at load, exit 1",
        _damage_case("steps_example.npy", _flip_bit(1), "observation", False),
    ),
    Case(2, "text flip in steps_act.bin", "hash mismatch at load, exit 1", case_hash_at_load),
    Case(2, "`lbi index verify`", "0 on a clean index, 1 naming a damaged file", case_verify),
    Case(3, "LLM unreachable", "exit 1 before any episode, no --out dir", case_llm_unreachable),
    Case(3, "every episode errors", "stops after 3 equal failures, exit 4", case_all_errors),
    Case(3, "some episodes error", "exit 3", case_some_errors),
    Case(4, "secret in --llm-base-url and key env", "nowhere in run dir or -vv logs", case_secrets),
    Case(5, "binary garbage", "exit 1, one line naming the file", _bad_input(_binary)),
    Case(5, "truncated .gz", "exit 1, one line naming the file", _bad_input(_truncated_gz)),
    Case(5, "plain text named .gz", "exit 1, one line naming the file", _bad_input(_plain_gz)),
    Case(5, "a directory as data file", "exit 1, one line naming it", _bad_input(_directory)),
    Case(5, "200k-deep nested JSON", "exit 1, one line naming the file", _bad_input(_deep)),
    Case(
        5, "truncated run manifest.json", "`lbi report` exit 1 naming it", case_truncated_manifest
    ),
    Case(5, "--out is a file", "exit 1 naming it", case_out_is_file),
    Case(5, "LLM unreachable in synthesize", "exit 1 naming the URL", case_synth_llm_unreachable),
    Case(
        6,
        "lone surrogate",
        "validate and build both refuse",
        _validator_and_builder(_surrogate, "surrogate"),
    ),
    Case(
        6,
        "empty file",
        "validate and build both refuse",
        _validator_and_builder(_empty, "empty file"),
    ),
    Case(
        6,
        "0-step trajectory",
        "validate and build both refuse",
        _validator_and_builder(_zero_steps, "at least one step"),
    ),
    Case(
        7, "kill -9 of `lbi run --parallel process`", "workers + tracker gone", case_kill9_workers
    ),
    Case(8, '--strategies ""', "exit 1", case_empty_strategies),
    Case(8, "index query -k 0", "usage error, non-zero", case_k0),
    Case(8, "--set retrieval.m1=0 with observation", "exit 1, no --out dir", case_m1_zero),
    Case(8, "the --set example in --help", "accepted", case_help_example),
    Case(8, "report/export of a non-run dir", "exit 1, nothing written", case_report_not_run),
    Case(8, "unknown env / missing index", "exit 1, no empty --out dir", case_no_empty_out),
    Case(8, "index build over an index", "refused without --overwrite", case_index_overwrite),
    Case(8, "kill -9 then rerun", "old session 'killed', .tmp removed", case_killed_session),
    Case(
        8,
        "--strategies commas or spaces",
        "both accepted by eval-retrieval and ablate",
        case_strategy_lists,
    ),
    Case(
        9,
        "agentic under the default budget",
        "both parts kept alike; dropped recorded",
        case_agentic_budget,
    ),
    Case(9, "step log records what was dropped", "StepLog.dropped", case_steplog_dropped),
    Case(
        10,
        "synthesize -> index build -> rag",
        "docs beside data, found, rag runs",
        case_docs_beside,
    ),
]


def run_case(case: Case, root: Path) -> Result:
    ws = Workspace(root)
    try:
        return case.run(ws)
    except Exception as e:  # a case that crashes is a failed case, with its reason
        return Result(f"case crashed: {type(e).__name__}: {str(e)[:200]}", False)


def all_cases() -> list[Case]:
    """Issue 10's cases (here) and issue 22's (faults2.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import faults2

    return [*CASES, *faults2.CASES]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--issue", type=int, choices=[10, 22], help="only this issue's cases")
    ap.add_argument("--item", type=int, action="append", help="only these issue items")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(title="fault injection, issues 10 and 22 (offline, no LLM)")
    for col in ("issue.item", "case", "expected", "observed", "pass"):
        table.add_column(col, overflow="fold")
    failures = 0
    cases = [
        c
        for c in all_cases()
        if (not args.issue or c.issue == args.issue) and (not args.item or c.item in args.item)
    ]
    with tempfile.TemporaryDirectory(prefix="lbi-faults-") as tmp:
        shared = Path(tmp) / "shared"
        for i, case in enumerate(cases):
            root = Path(tmp) / f"c{i}"
            root.mkdir()
            if (shared / "clean-index").exists():
                shutil.copytree(shared / "clean-index", root / "clean-index")
            res = run_case(case, root)
            if (root / "clean-index").exists() and not (shared / "clean-index").exists():
                shutil.copytree(root / "clean-index", shared / "clean-index")
            failures += not res.ok
            table.add_row(
                f"{case.issue}.{case.item}",
                case.name,
                case.expected,
                res.observed,
                "[green]pass" if res.ok else "[red]FAIL",
            )
            verdict = "pass" if res.ok else "FAIL"
            print(f"{verdict}  [{case.issue}.{case.item}] {case.name}", file=sys.stderr)
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)
    print(f"{len(table.rows) - failures}/{len(table.rows)} cases pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
