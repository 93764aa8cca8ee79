"""Start, check and stop a local OpenAI-compatible server for a GGUF file.

The engine is `llama-cpp-python`'s server (`python -m llama_cpp.server`, extra
`local-llm`): one process on 127.0.0.1, its output in a log file, its pid and settings in a
small JSON state file, so `lbi serve status` / `lbi serve stop` find it again from another
shell. `start` returns when `GET /v1/models` answers (or raises with the log's tail when the
process dies or the wait times out); `stop` sends SIGTERM to the server's process group,
then SIGKILL after a grace period. `LocalServer` is also a context manager, which tests use
to run a server for their own duration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lbi_icl.local.models import cache_root
from lbi_icl.util.lifetime import arm_parent_death_signal
from lbi_icl.util.locks import pid_alive, process_start

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class ServerError(Exception):
    """The server could not be started, found or stopped; the message says why."""


class ServerState(BaseModel):
    """What `start` records (the state file) and `status` reports."""

    model_config = ConfigDict(extra="forbid")

    name: str
    pid: int
    host: str
    port: int
    model: str
    alias: str
    n_ctx: int
    threads: int
    log_file: str
    started_at: float
    command: list[str]
    # /proc start time of `pid`: `stop` and `status` act only on that very process, never
    # on a later one that got the same pid (None in state files written before it existed)
    start_ticks: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def llm_spec(self) -> str:
        return f"openai:{self.alias}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def state_dir() -> Path:
    return cache_root() / "servers"


def _alive(pid: int) -> bool:
    """`locks.pid_alive`, and a zombie child of ours counts as dead."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def is_ours(state: ServerState) -> bool:
    """The state file's process is alive and is the one that was started (not another
    process that reused its pid): same start time, or, for older state files, the same
    command line."""
    if not _alive(state.pid):
        return False
    if state.start_ticks is not None:
        return process_start(state.pid) == state.start_ticks
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return False
    return [a.decode(errors="replace") for a in cmdline] == state.command


def healthy(base_url: str, timeout_s: float = 2.0) -> bool:
    """True when `GET {base_url}/models` answers 200."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


class LocalServer:
    """One llama.cpp server on 127.0.0.1. `start()` / `stop()` / `status()`; the state
    file `<state_dir>/<name>.json` lets another process find and stop it."""

    def __init__(
        self,
        model: Path,
        *,
        name: str = "default",
        port: int | None = None,
        alias: str | None = None,
        n_ctx: int = 4096,
        threads: int = 2,
        state_dir_: Path | None = None,
        log_file: Path | None = None,
        extra_args: list[str] | None = None,
        autogroup_nice: int | None = None,
        nice: int | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.model = Path(model)
        self.name = name
        self.port = port
        self.alias = alias or self.model.stem
        self.n_ctx = n_ctx
        self.threads = threads
        self.dir = state_dir_ if state_dir_ is not None else state_dir()
        self.log_file = log_file if log_file is not None else self.dir / f"{name}.log"
        self.extra_args = list(extra_args or [])
        self.autogroup_nice = autogroup_nice
        self.nice = nice
        # True for servers owned by one process (tests, benchmarks): killed when it dies.
        # False for `lbi serve start`, whose server outlives the command by design.
        self.die_with_parent = die_with_parent
        self.state: ServerState | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def state_file(self) -> Path:
        return self.dir / f"{self.name}.json"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--model_alias",
            self.alias,
            "--host",
            HOST,
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            *self.extra_args,
        ]

    def check_engine(self) -> None:
        """A clear error when llama-cpp-python (with its server extra) is missing."""
        try:
            import llama_cpp
            import llama_cpp.server  # noqa: F401
        except ImportError as exc:
            raise ServerError(
                f"llama-cpp-python[server] is not installed ({exc}): pip install -e "
                "'.[local-llm]' -c constraints-cpu.txt (it compiles llama.cpp, ~10 min on "
                "2 cores)"
            ) from None

    def start(self, wait_s: float = 300.0) -> ServerState:
        """Start the server and wait until it answers; an already running server under
        this name is an error (stop it first)."""
        self.check_engine()
        current = read_state(self.name, self.dir)
        if current is not None and is_ours(current):
            raise ServerError(
                f"server {self.name!r} is already running (pid {current.pid}, "
                f"{current.base_url}); `lbi serve stop --name {self.name}` first"
            )
        if not self.model.is_file():
            raise ServerError(f"model file not found: {self.model}")
        port = self.port if self.port is not None else free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        cmd = self.command(port)
        with self.log_file.open("ab") as logfh:
            logfh.write(f"\n=== {time.strftime('%F %T')} {' '.join(cmd)}\n".encode())
            logfh.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdout=logfh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop kills all of it
                preexec_fn=_child_setup(self.nice, self.die_with_parent),
            )
        if self.autogroup_nice is not None:
            set_autogroup_nice(self._proc.pid, self.autogroup_nice)
        state = ServerState(
            name=self.name,
            pid=self._proc.pid,
            host=HOST,
            port=port,
            model=str(self.model),
            alias=self.alias,
            n_ctx=self.n_ctx,
            threads=self.threads,
            log_file=str(self.log_file),
            started_at=time.time(),
            command=cmd,
            start_ticks=process_start(self._proc.pid),
        )
        _write_state(self.state_file, state)
        self.state = state
        deadline = time.monotonic() + wait_s
        while not healthy(state.base_url):
            if self._proc.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise ServerError(
                    f"llama.cpp server exited with code {self._proc.returncode} before "
                    f"answering; log {self.log_file}:\n{_tail(self.log_file)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"llama.cpp server did not answer on {state.base_url} within {wait_s:.0f}s;"
                    f" stopped it. Log {self.log_file}:\n{_tail(self.log_file)}"
                )
            time.sleep(0.5)
        log.info("server %s ready at %s (pid %d)", self.name, state.base_url, state.pid)
        return state

    def stop(self, grace_s: float = 10.0) -> bool:
        state = self.state or read_state(self.name, self.dir)
        stopped = False
        if state is not None and is_ours(state):
            stopped = stop_pid(state.pid, grace_s, child=self._proc)
        elif state is not None and _alive(state.pid):
            log.warning(
                "server %s: pid %d is another process now (the server is gone); not "
                "stopping it, removing the stale state file",
                self.name,
                state.pid,
            )
        self.state_file.unlink(missing_ok=True)
        self.state = None
        self._proc = None
        return stopped

    def __enter__(self) -> ServerState:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _child_setup(nice: int | None, die_with_parent: bool) -> Any:
    """A preexec_fn giving the server process niceness `nice` (lowering it needs root) and,
    when asked, a SIGKILL when its parent dies; None when there is nothing to do."""
    if nice is None and not die_with_parent:
        return None

    def apply() -> None:
        if nice is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, nice)
        if die_with_parent:
            arm_parent_death_signal()

    return apply


def set_autogroup_nice(pid: int, nice: int) -> bool:
    """Set the CPU weight of `pid`'s scheduler autogroup (Linux, CONFIG_SCHED_AUTOGROUP).

    With autogroups on (`/proc/sys/kernel/sched_autogroup_enabled` = 1) every session gets
    an equal CPU share whatever the nice values inside it, so other users' `nice -n 19`
    jobs do not yield to the server; the server runs in its own session, and this gives
    that session the weight of nice `nice`. Returns False (and logs) where unsupported."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(f"{nice}\n")
    except OSError as exc:
        log.warning("could not set the autogroup nice of pid %d to %d: %s", pid, nice, exc)
        return False
    return True


def _write_state(path: Path, state: ServerState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(state.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)


def read_state(name: str = "default", directory: Path | None = None) -> ServerState | None:
    path = (directory if directory is not None else state_dir()) / f"{name}.json"
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return ServerState.model_validate(json.loads(raw))
    except ValueError as exc:
        raise ServerError(f"{path}: not a valid server state file ({exc}); delete it") from None


def stop_pid(pid: int, grace_s: float = 10.0, child: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM the process group of `pid`, SIGKILL after `grace_s`; True if it was alive."""
    if not _alive(pid):
        if child is not None:
            child.poll()
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()
        if not _alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if child is not None:
        child.wait(timeout=10)
    return True


def server_status(name: str = "default", directory: Path | None = None) -> dict[str, Any]:
    """State, liveness and health of server `name` (for `lbi serve status`)."""
    state = read_state(name, directory)
    if state is None:
        return {"name": name, "running": False}
    alive = is_ours(state)
    return {
        **state.model_dump(),
        "running": alive,
        "healthy": alive and healthy(state.base_url),
        "base_url": state.base_url,
        "llm_spec": state.llm_spec,
    }
