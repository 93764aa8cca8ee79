"""Fault cases of LLM and provider errors (unreachable, failing episodes) and of leaked secrets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from faults_harness import ROOT, Result, Workspace, lbi, one_line_error, run_args


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


# ------------------------------------------------------------------ item 5: synthesize
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
