"""Ctrl-C on a run whose episode waits on the LLM: a server that never answers, or one that
asks for a long back-off. The first Ctrl-C ends the run with exit 130 and leaves the process
(and nothing else) behind; the episode reruns on resume. The 2 s target is measured in
benchmarks/faults (faults2); here the bound only has to tell seconds from minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_servers import LLM_ENV_VARS, OpenAIStubServer, StubReply

from lbi_icl.util.lifetime import interruptible_child

pytest.importorskip("minigrid")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "reply",
    [
        StubReply(text="Action: go forward", delay_s=600),  # silent for 10 minutes
        StubReply(status=503, headers={"Retry-After": "300"}),  # retry in 5 minutes
    ],
    ids=["silent-server", "long-backoff"],
)
def test_first_ctrl_c_ends_a_run_waiting_on_the_llm(tmp_path, reply):
    with OpenAIStubServer([reply]) as srv:
        out = tmp_path / "run"
        argv = [sys.executable, "-m", "lbi_icl.cli", "run", "--env", "babyai", "--split", "test"]
        argv += ["--tasks", "1", "--max-steps", "2", "--policy", "llm", "--llm", "openai:m"]
        argv += ["--llm-base-url", srv.base_url, "--out", str(out), "--no-progress"]
        env = {k: v for k, v in os.environ.items() if k not in LLM_ENV_VARS}
        env["OPENAI_API_KEY"] = "sk-loopback"
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=interruptible_child,
        )
        try:
            deadline = time.monotonic() + 120
            while not srv.requests and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
            assert srv.requests, "the episode never called the LLM"
            time.sleep(0.5)  # inside the request (or the back-off) now
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            rc = proc.wait(timeout=60)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert rc == 130, proc.stderr.read() if proc.stderr else ""
        assert took < 20, f"took {took:.1f} s to stop"
        assert not (out / "episodes.jsonl").exists() or (out / "episodes.jsonl").read_text() == ""
