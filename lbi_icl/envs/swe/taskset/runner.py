"""Test runs for the task-set builder: one pool of `workers` threads shared by every
project, each thread with its own pytest fork servers (`forkserver.py`, one per project
virtualenv), or plain `python -m pytest` subprocesses (`mode="subprocess"`, or where
`os.fork` does not exist). Both give a `grading.TestRun` read from pytest's `-rA` summary.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import shlex
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar

from lbi_icl.envs.swe.grading import PYTEST_ARGS, TestRun, parse_pytest, run_pytest

log = logging.getLogger(__name__)

SERVER = Path(__file__).with_name("forkserver.py")
MAX_SERVERS_PER_THREAD = 3
# the server imported the installed plugins before the run could mark them for assertion
# rewriting; pytest warns about that, which `filterwarnings = error` would make fatal
_FORK_ARGS = ("-W", "ignore::pytest.PytestAssertRewriteWarning")
T = TypeVar("T")
Mode = Literal["fork", "subprocess"]


class BuildRun(TestRun):
    """A test run with the CPU time of its pytest process (fork servers only; else 0)."""

    cpu_seconds: float = 0.0


class _Server:
    """One fork server process (a venv's python running forkserver.py)."""

    def __init__(self, python: str, env: Mapping[str, str]) -> None:
        base = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        self.proc = subprocess.Popen(
            [python, str(SERVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=base,
            text=True,
            bufsize=1,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, request: dict[str, object]) -> dict[str, object]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the pytest fork server exited")
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class TestRunner:
    """Runs pytest on chosen files of a folder, `workers` at a time."""

    __test__ = False  # not a pytest test class

    def __init__(self, workers: int, mode: Mode = "fork", python: str | None = None) -> None:
        """`python`: the interpreter of every fork server (default: the run's virtualenv's,
        one server per virtualenv and thread; the task set's virtualenvs are all alike, so
        the builder gives one, and a thread keeps one server for every project)."""
        self.mode: Mode = mode if hasattr(os, "fork") else "subprocess"
        self.python = python
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="tests")
        self.local = threading.local()
        self.lock = threading.Lock()
        self.servers: list[_Server] = []
        self.runs = 0
        self.seconds = 0.0

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Run `fn` (which calls `run`) on one of the pool's threads."""
        return self.pool.submit(fn)

    def map(self, fns: list[Callable[[], T]]) -> list[T]:
        futures = [self.pool.submit(fn) for fn in fns]
        return [f.result() for f in futures]

    def run(
        self,
        cwd: Path,
        files: list[str],
        env: Mapping[str, str],
        *,
        timeout_s: float,
        cpu_limit_s: float | None = None,
        fresh: bool = False,
    ) -> BuildRun:
        """pytest's outcomes for `files` under `cwd`. `timeout_s` is wall time;
        `cpu_limit_s` CPU time (fork servers only: it does not grow with the machine's
        load); `fresh`: in a new python process whatever the mode."""
        env = {**env, "COLUMNS": "400"}
        start = time.perf_counter()
        if self.mode == "subprocess" or fresh:
            plain = run_pytest(cwd, files, env, timeout_s=timeout_s)
            result = BuildRun(**plain.model_dump())
        else:
            result = self._fork_run(cwd, files, env, timeout_s, cpu_limit_s)
        with self.lock:
            self.runs += 1
            self.seconds += time.perf_counter() - start
        return result

    def _server(self, env: Mapping[str, str]) -> _Server:
        venv = env.get("VIRTUAL_ENV", "")
        python = self.python or (str(Path(venv) / "bin" / "python") if venv else "python3")
        servers: OrderedDict[str, _Server] = getattr(self.local, "servers", None) or OrderedDict()
        self.local.servers = servers
        server = servers.get(python)
        if server is not None and not server.alive():
            servers.pop(python)
            server = None
        if server is None:
            server = _Server(python, env)
            with self.lock:
                self.servers.append(server)
            servers[python] = server
            while len(servers) > MAX_SERVERS_PER_THREAD:
                _, old = servers.popitem(last=False)
                old.close()
        servers.move_to_end(python)
        return server

    def _fork_run(
        self,
        cwd: Path,
        files: list[str],
        env: Mapping[str, str],
        timeout_s: float,
        cpu_limit_s: float | None,
    ) -> BuildRun:
        server = self._server(env)
        with tempfile.NamedTemporaryFile(prefix="lbi-pytest-", suffix=".out") as out:
            request = {
                "cwd": str(cwd),
                "args": [*shlex.split(PYTEST_ARGS), *_FORK_ARGS, *files],
                "env": dict(env),
                "path": [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p],
                "timeout": timeout_s,
                "cpu_limit": cpu_limit_s,
                "out": out.name,
            }
            try:
                answer = server.run(request)
            except (OSError, RuntimeError, ValueError) as e:
                log.warning("fork server failed (%s); running pytest in a subprocess", e)
                return BuildRun(**run_pytest(cwd, files, env, timeout_s=timeout_s).model_dump())
            output = Path(out.name).read_text(encoding="utf-8", errors="replace")
        outcomes, messages = parse_pytest(output)
        timed_out = bool(answer["timed_out"])
        if timed_out:
            output += f"\n[timed out: {timeout_s:g} s wall or {cpu_limit_s} s CPU]"
        return BuildRun(
            outcomes=outcomes,
            messages=messages,
            exit_code=int(str(answer["exit_code"])),
            timed_out=timed_out,
            seconds=float(str(answer["seconds"])),
            cpu_seconds=float(str(answer.get("cpu_seconds", 0.0))),
            output=output,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        with self.lock:
            servers, self.servers = self.servers, []
        for server in servers:
            if server.alive():
                server.close()
