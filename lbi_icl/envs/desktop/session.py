"""`LocalDesktop`: one desktop session on this machine (Xvfb, D-Bus, AT-SPI, openbox, the
OSWorld-compatible server; applications started through the server).

Process tree: this process → `unshare --pid --mount --mount-proc --fork --kill-child` →
`init.py` (PID 1 of the session, root) → the desktop user's processes. `unshare` carries
PR_SET_PDEATHSIG, so a killed parent kills it, `--kill-child` kills init, and the kernel
kills every process of a PID namespace whose init exits: nothing outlives the session.
`stop()` closes init's stdin (it returns), then kills what is left.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lbi_icl.envs.desktop import deps, profile
from lbi_icl.util.lifetime import arm_parent_death_signal

log = logging.getLogger(__name__)

SERVER_PACKAGE = Path(__file__).parent / "vmserver"


class DesktopStartError(RuntimeError):
    """The session did not come up; the message says which part failed."""


def _preexec() -> None:
    arm_parent_death_signal()
    os.setsid()


def session_pids(session_id: str) -> list[int]:
    """Processes whose environment carries this session's tag (root can read them all)."""
    tag = f"LBI_DESKTOP_SESSION={session_id}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if tag in fh.read().split(b"\0"):
                    out.append(int(entry))
        except OSError:
            continue
    return out


class LocalDesktop:
    """Start with `start()`; `url` and `token` reach its server; `stop()` ends it."""

    def __init__(self, *, screen: tuple[int, int] = (1920, 1080), start_timeout_s: float = 60):
        self.screen = screen
        self.start_timeout_s = start_timeout_s
        self.session_id = ""
        self.token = ""
        self.port = 0
        self.workdir: Path | None = None
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if self.workdir is None:
            return ""
        path = self.workdir / "session.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> None:
        if self.alive:
            return
        found = deps.resolve()
        self.session_id = secrets.token_hex(8)
        self.token = secrets.token_urlsafe(24)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"lbi-desktop-{self.session_id}-"))
        os.chmod(self.workdir, 0o700)
        server_dir = self.workdir / "server"
        shutil.copytree(
            SERVER_PACKAGE,
            server_dir / "lbi_vmserver",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        cfg: dict[str, Any] = {
            "uid": found.uid,
            "gid": found.gid,
            "user": "user",
            "python": found.python,
            "python_bin_dir": str(Path(found.python).parent),
            "atspi_launcher": found.atspi_launcher,
            "server_dir": str(server_dir),
            "home_template": str(profile.home_template()),
            "token": self.token,
            "screen": list(self.screen),
            "session_id": self.session_id,
            "log_path": str(self.workdir / "session.log"),
        }
        argv = ["unshare", "--pid", "--mount", "--mount-proc", "--fork", "--kill-child=SIGKILL"]
        argv += ["--", sys.executable, "-m", "lbi_icl.envs.desktop.init"]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.workdir / "unshare.log", "w"),  # noqa: SIM115
            text=True,
            preexec_fn=_preexec,
            env={**os.environ, "LBI_DESKTOP_SESSION": self.session_id},
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(cfg) + "\n")
        self._proc.stdin.flush()
        ready, _, _ = select.select([self._proc.stdout], [], [], self.start_timeout_s)
        line = self._proc.stdout.readline() if ready else ""
        try:
            state = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError:
            state = {"error": f"unexpected output {line.strip()!r}"}
        if "port" not in state:
            why = state.get("error") or f"no answer in {self.start_timeout_s:g} s"
            tail = self.log_tail()
            self.stop()
            raise DesktopStartError(f"desktop session did not start: {why}\n{tail}".strip())
        self.port = int(state["port"])
        log.info("desktop session %s on port %d", self.session_id, self.port)

    def pids(self) -> list[int]:
        """Every live process of this session (tests check none is left after stop)."""
        if not self.session_id:
            return []
        return session_pids(self.session_id)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()
        deadline = time.monotonic() + 10
        while self.session_id and (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> LocalDesktop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        try:
            if self._proc is not None:
                os.killpg(self._proc.pid, signal.SIGKILL)
        except Exception:
            pass
