"""Issue 22's fault cases (round 2), run by `faults.py` after issue 10's: the faults a
47-case probe still found, each against the real `lbi` command in a child process.

Offline: BabyAI, the hash embedder, scripted LLMs and loopback stub servers only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from faults_harness import CODE, ROOT, Case, Result, Workspace, lbi, one_line_error, run_args

sys.path.insert(0, str(ROOT / "tests"))
# a viewer data shard: one lbiData(name, json-string) call (tests/test_view.py)
SHARD = re.compile(r'^lbiData\(("(?:[^"\\]|\\.)*"),("(?:[^"\\]|\\.)*")\);\n$')


def _flip(path: Path, byte: int, bit: int) -> None:
    """Flip one bit in place, size and mtime kept (bit rot)."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(byte)
        old = fh.read(1)[0]
        fh.seek(byte)
        fh.write(bytes([old ^ (1 << bit)]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _header(path: Path) -> int:
    """Where an .npy file's data start."""
    with open(path, "rb") as fh:
        np.lib.format.read_magic(fh)
        np.lib.format.read_array_header_1_0(fh)
        return fh.tell()


# ------------------------------------------------------------------ item 1: bit rot
def case_rot_vector(ws: Workspace) -> Result:
    """The probe's case: one exponent bit in vec_instruction.npy (0.1 -> 3e37, finite)."""
    ws.fresh()
    index = ws.clean_index()
    path = index / "vec_instruction.npy"
    at = int(np.flatnonzero(np.abs(np.load(path).ravel()) > 0.01)[0]) * 4 + _header(path)
    _flip(path, at + 3, 6)
    value = struct.unpack("<f", path.read_bytes()[at : at + 4])[0]
    rc, _, err = lbi("index", "query", str(index), "--field", "instruction", "--text", "pot")
    res = one_line_error(rc, err, "vec_instruction.npy")
    rc2, _, err2 = lbi(
        *run_args(ws.dir / "run", "--retrieval", "instruction", "--index", str(index))
    )
    ok2 = (
        rc2 == 1
        and "vec_instruction.npy" in err2
        and not (ws.dir / "run" / "episodes.jsonl").exists()
    )
    return Result(f"{res.observed}; run: exit {rc2} (value now {value:.3g})", res.ok and ok2)


def case_rot_piecewise(ws: Workspace) -> Result:
    """A bit in examples.jsonl, the step texts and a BM25 score: caught when read."""
    ws.fresh()
    index = ws.clean_index()
    seen = []
    for rel, field in (("steps_obs.bin", "observation"), ("examples.jsonl", "instruction")):
        _flip(index / rel, 40, 0)
        rc, _, err = lbi("index", "query", str(index), "--field", field, "--text", "pot stove")
        seen.append((rel, rc, rel in err and "changed" in err and "Traceback" not in err))
        _flip(index / rel, 40, 0)  # undo
    data = index / "bm25_steps" / "data.csc.index.npy"
    _flip(data, _header(data) + 3, 6)
    rc, _, err = lbi(
        "index", "query", str(index), "--field", "observation", "--text", "pot stove a the"
    )
    seen.append(("bm25 data", rc, "data.csc.index.npy" in err and "Traceback" not in err))
    ok = all(r == 1 and named for _, r, named in seen)
    return Result("; ".join(f"{n}: exit {r}" for n, r, _ in seen), ok)


# ------------------------------------------------------------------ item 2: adoption
def case_run_without_manifest(ws: Workspace) -> Result:
    out = ws.fresh() / "run"
    lbi(*run_args(out))
    (out / "manifest.json").unlink()
    rc, _, err = lbi(*run_args(out, "--max-steps", "5"))
    return one_line_error(rc, err, "no manifest.json")


# ------------------------------------------------------------------ item 3: clobbering
def case_synth_side_files(ws: Workspace) -> Result:
    d = ws.fresh()
    side = d / "n.raw.jsonl"
    side.write_text("mine\n")
    rc, _, err = lbi(
        "synthesize",
        "--env",
        "babyai",
        "--tasks",
        "1",
        "--out",
        str(d / "n.jsonl"),
        "--env-option",
        'levels=["BabyAI-GoToLocal-v0"]',
        "--no-progress",
    )
    res = one_line_error(rc, err, "n.raw.jsonl", "--overwrite")
    res.ok = res.ok and side.read_text() == "mine\n"
    return res


def case_index_add_keeps_others(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    (index / "NOTES.md").write_text("mine\n")
    (index / "runs").mkdir()
    (index / "runs" / "episodes.jsonl").write_text("{}\n")
    extra = ROOT / "tests" / "fixtures" / "retrieval" / "heldout.jsonl"
    rc, _, err = lbi("index", "add", str(index), "--trajectories", str(extra))
    kept = (index / "NOTES.md").exists() and (index / "runs" / "episodes.jsonl").exists()
    return Result(f"add: exit {rc}; NOTES.md and runs/ kept: {kept} {err[-120:]}", rc == 0 and kept)


def case_export_existing(ws: Workspace) -> Result:
    d = ws.fresh()
    lbi(*run_args(d / "run"))
    out = d / "x.jsonl"
    out.write_text("mine\n")
    rc, _, err = lbi("export", str(d / "run"), "--out", str(out))
    res = one_line_error(rc, err, "--overwrite")
    res.ok = res.ok and out.read_text() == "mine\n"
    return res


# ------------------------------------------------------------------ item 4: line breaks
def case_u2028_in_steps(ws: Workspace) -> Result:
    d = ws.fresh()
    lbi(*run_args(d / "run"))
    log = next((d / "run" / "steps").iterdir())
    rows = [json.loads(x) for x in log.read_text().split("\n") if x]
    rows[0]["observation"] += " a\u2028b\u2029c"
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    rc, _, _ = lbi("view", str(d / "run"), "--no-progress")
    shard = d / "run" / "view" / "data" / "steps" / f"{log.stem}.js"
    m = SHARD.match(shard.read_text()) if shard.exists() else None
    ep = json.loads(json.loads(m.group(2))) if m else {}
    kept = len(ep.get("steps", []))
    ok = rc == 0 and kept == len(rows) and ep.get("problems") == []
    ok = ok and "\u2028" in ep["steps"][0]["observation"]
    return Result(f"view: exit {rc}; {kept} of {len(rows)} steps shown", ok)


# ------------------------------------------------------------------ item 5: identities
def case_serve_stop_reused_pid(ws: Workspace) -> Result:
    d = ws.fresh()
    other = subprocess.Popen(["sleep", "60"])
    try:
        servers = d / "cache" / "servers"
        servers.mkdir(parents=True)
        state = {
            "name": "gone",
            "pid": other.pid,
            "host": "127.0.0.1",
            "port": 1,
            "model": "m",
            "alias": "a",
            "n_ctx": 1,
            "threads": 1,
            "log_file": "l",
            "started_at": 0.0,
            "command": ["python", "-m", "llama_cpp.server"],
            "start_ticks": 1,
        }
        (servers / "gone.json").write_text(json.dumps(state))
        rc, out, _err = lbi(
            "serve", "stop", "--name", "gone", env={"LBI_CACHE_DIR": str(d / "cache")}
        )
        alive = other.poll() is None
        return Result(
            f"exit {rc}; unrelated process alive: {alive}; {out.strip()[:80]}", rc == 0 and alive
        )
    finally:
        other.kill()
        other.wait()


def case_symlinked_out(ws: Workspace) -> Result:
    from faults_harness import start_holder

    d = ws.fresh()
    real = d / "run"
    real.mkdir()
    alias = d / "alias"
    alias.symlink_to(real)
    holder = start_holder(real)
    try:
        rc, _, err = lbi(*run_args(alias))
        return one_line_error(rc, err, f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()


def case_readers_stay_inside(ws: Workspace) -> Result:
    d = ws.fresh()
    lbi(*run_args(d / "run"))
    secret = d / "secret.txt"
    secret.write_text('{"observation": "SECRET"}\n')
    path = d / "run" / "episodes.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[0]["steps_log"] = str(secret)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc_v, _, err_v = lbi("view", str(d / "run"), "--no-progress")
    rc_e, _, err_e = lbi("export", str(d / "run"), "--out", str(d / "x.jsonl"), "--all")
    ok = rc_v == rc_e == 1 and "inside the run directory" in err_v + err_e
    leaked = any("SECRET" in p.read_text() for p in (d / "run").rglob("*.js"))
    return Result(
        f"view: exit {rc_v}, export: exit {rc_e}, content copied: {leaked}", ok and not leaked
    )


# ------------------------------------------------------------------ item 6: Ctrl-C
def case_ctrl_c_silent_llm(ws: Workspace) -> Result:
    from llm_servers import LLM_ENV_VARS, OpenAIStubServer, StubReply

    from lbi_icl.util.lifetime import interruptible_child

    d = ws.fresh()
    with OpenAIStubServer([StubReply(text="Action: go forward", delay_s=600)]) as srv:
        argv = [
            sys.executable,
            "-m",
            "lbi_icl.cli",
            *run_args(d / "run", "--policy", "llm", "--llm", "openai:m"),
            "--llm-base-url",
            srv.base_url,
        ]
        env = {k: v for k, v in os.environ.items() if k not in LLM_ENV_VARS}
        env.update(OPENAI_API_KEY="sk-x", PYTHONPATH=str(CODE), HF_HUB_OFFLINE="1")
        proc = subprocess.Popen(
            argv,
            cwd=CODE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=interruptible_child,
        )
        try:
            deadline = time.monotonic() + 120
            while not srv.requests and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.1)
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return Result(f"exit {rc} {took:.2f} s after Ctrl-C", rc == 130 and took <= 2.0)


# ------------------------------------------------------------------ item 7: one line
def case_one_line_errors(ws: Workspace) -> Result:
    d = ws.fresh()
    (d / "cfg").mkdir()
    (d / "file").write_text("x")
    lbi(*run_args(d / "r1"))
    (d / "r1" / "manifest.json").write_text('{"trunc')
    cases = {
        "--env-option foo=1": (run_args(d / "a", "--env-option", "foo=1"), "no option 'foo'"),
        "--split nosuch": ([*run_args(d / "b")[:4], "nosuch", *run_args(d / "b")[5:]], "nosuch"),
        "--config DIR": (["run", "--config", str(d / "cfg"), "--out", str(d / "c")], "not a file"),
        "truncated manifest": (run_args(d / "r1"), "manifest.json"),
        "--out under a file": (run_args(d / "file" / "run"), f"{d / 'file'}: "),
        "--max-steps 0": (run_args(d / "e", "--max-steps", "0"), "max_steps"),
    }
    bad = []
    for name, (argv, words) in cases.items():
        rc, _, err = lbi(*argv)
        if not one_line_error(rc, err, words).ok:
            bad.append(
                f"{name}: exit {rc} {err.strip().splitlines()[-1][:60] if err.strip() else ''}"
            )
    return Result(
        f"{len(cases) - len(bad)}/{len(cases)} one-line" + (f"; {bad}" if bad else ""), not bad
    )


def case_broken_pipe(ws: Workspace) -> Result:
    argv = [
        sys.executable,
        "-m",
        "lbi_icl.cli",
        "data",
        "stats",
        "--json",
        str(ROOT / "tests" / "fixtures" / "retrieval" / "trajectories.jsonl"),
    ]
    proc = subprocess.Popen(
        argv,
        cwd=CODE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(CODE)},
    )
    assert proc.stdout is not None
    proc.stdout.close()  # like `| head` leaving at once
    err = proc.stderr.read().decode() if proc.stderr else ""
    rc = proc.wait(timeout=120)
    return Result(f"exit {rc}, stderr {len(err)} bytes", "Traceback" not in err and rc in (0, 141))


# ------------------------------------------------------------------ item 8: LLM faults
def case_llm_faults(ws: Workspace) -> Result:
    from llm_servers import LLM_ENV_VARS, OpenAIStubServer, StubReply

    d = ws.fresh()
    env = {k: v for k, v in os.environ.items() if k not in LLM_ENV_VARS}
    env["OPENAI_API_KEY"] = "sk-x"
    seen = []
    for name, reply in (
        ("html 200", StubReply(raw_body=b"<html>gateway</html>", content_type="text/html")),
        ("surrogate", StubReply(text="Reason: \ud800.\nAction: go forward")),
    ):
        with OpenAIStubServer([reply]) as srv:
            out = d / name.replace(" ", "_")
            rc, _, _ = lbi(
                *run_args(out, "--tasks", "1", "--policy", "llm", "--llm", "openai:m"),
                "--llm-base-url",
                srv.base_url,
                "--set",
                "fail_fast=0",
                env=env,
            )
        recs = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
        seen.append((name, rc, recs[0].get("stop_reason"), recs[0].get("error") or ""))
    (h_rc, h_stop, h_err), (s_rc, s_stop, _) = (x[1:] for x in seen)
    ok = (
        h_rc == 3
        and h_stop == "error"
        and "bad_response" in h_err
        and s_rc == 0
        and s_stop != "error"
    )
    return Result(f"html: exit {h_rc} {h_stop}; surrogate: exit {s_rc} {s_stop}", ok)


def case_view_host_header(ws: Workspace) -> Result:
    import threading

    from lbi_icl.view import build_view, make_server

    d = ws.fresh()
    lbi(*run_args(d / "run"))
    build_view(d / "run")
    server = make_server(d / "run")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/view/index.html", headers={"Host": f"rebind.example:{port}"}
        )
        try:
            urllib.request.urlopen(req)
            code = 200
        except urllib.error.HTTPError as e:
            code = e.code
    finally:
        server.shutdown()
        server.server_close()
    return Result(f"foreign Host: HTTP {code}", code == 421)


# ------------------------------------------------------------------ item 9: hangs
HANG_ENV = textwrap.dedent("""
    import threading
    from lbi_icl.data import Task
    from lbi_icl.envs.base import StepResult

    class HangEnv:
        name = "hangenv"
        step_timeout_s = 1.0

        def tasks(self, split):
            return [Task(id=f"t{i}", env=self.name, instruction="go") for i in range(3)]

        def reset(self, task):
            self.task, self.n = task, 0
            return "start"

        def step(self, action):
            if self.task.id == "t1":
                threading.Event().wait(600)
            self.n += 1
            return StepResult(observation="x", reward=1.0, done=True)

        def action_space_text(self):
            return "go"

        def valid_actions(self):
            return ["go"]

        def documents(self):
            return []

        def demonstrate(self, task, *, max_steps=100):
            return None

        def close(self):
            pass
""")


def case_hanging_env_step(ws: Workspace) -> Result:
    d = ws.fresh()
    (d / "hangenv.py").write_text(HANG_ENV)
    (d / "s.json").write_text(json.dumps({"default": "Reason: go.\nAction: go"}))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from hangenv import HangEnv; from lbi_icl.envs import register_env;"
        "register_env('hangenv', HangEnv); from lbi_icl.cli import main;"
        "sys.exit(main(sys.argv[2:]))"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        str(d),
        "run",
        "--env",
        "hangenv",
        "--tasks",
        "all",
        "--policy",
        "llm",
        "--llm",
        f"scripted:{d / 's.json'}",
        "--out",
        str(d / "run"),
        "--no-progress",
        "--set",
        "fail_fast=0",
    ]
    t0 = time.monotonic()
    proc = subprocess.run(
        argv,
        cwd=CODE,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(CODE)},
    )
    took = time.monotonic() - t0
    recs = {
        json.loads(x)["task_id"]: json.loads(x)
        for x in (d / "run" / "episodes.jsonl").read_text().splitlines()
    }
    err = recs.get("t1", {}).get("error") or ""
    ok = (
        proc.returncode == 3
        and recs["t0"]["success"]
        and recs["t2"]["success"]
        and "task 't1', step 1" in err
        and "timed out" in err
    )
    return Result(f"exit {proc.returncode} in {took:.0f} s; t1: {err[:70]}", ok)


_CASES = [
    (1, "bit rot: exponent flip in a vector", "exit 1 naming the file", case_rot_vector),
    (1, "bit rot in examples, texts, BM25", "exit 1 when read", case_rot_piecewise),
    (2, "run dir without manifest.json", "exit 1, not adopted", case_run_without_manifest),
    (3, "synthesize beside OUT.raw.jsonl", "exit 1, file kept", case_synth_side_files),
    (3, "index add, other files inside", "other files kept", case_index_add_keeps_others),
    (3, "export --out an existing file", "exit 1, file kept", case_export_existing),
    (4, "U+2028/U+2029 in a step log", "view keeps every step", case_u2028_in_steps),
    (5, "serve stop with a reused pid", "other process alone", case_serve_stop_reused_pid),
    (5, "a symlinked --out", "second writer refused", case_symlinked_out),
    (5, "steps_log outside the run dir", "refused, nothing copied", case_readers_stay_inside),
    (6, "Ctrl-C on a silent LLM server", "exit 130 within 2 s", case_ctrl_c_silent_llm),
    (7, "option/split/config/manifest/path", "one line, exit 1", case_one_line_errors),
    (7, "BrokenPipe (| head)", "quiet exit", case_broken_pipe),
    (8, "HTML 200 / lone surrogate answer", "infra error / cleaned", case_llm_faults),
    (8, "viewer with a foreign Host header", "421", case_view_host_header),
    (9, "an env step that hangs", "error naming task and step", case_hanging_env_step),
]
CASES = [Case(item, name, expected, fn, issue=22) for item, name, expected, fn in _CASES]
