"""Run one shell command the way the `swe` environment does: `bash -lc CMD` in the workspace,
in its own process group, with a timeout and an output cap.

- The command's session is killed (SIGKILL to the group) when it times out *and* when bash
  exits, so `sleep 100 &` neither outlives its step nor keeps the step waiting.
- Output (stdout and stderr interleaved) is read by a thread that keeps the first and the
  last `output_cap // 2` bytes and counts the rest, so `yes` cannot fill memory.
- With a `Sandbox` the command runs inside it (`sandbox.py`): killing the outer `bwrap`
  takes the sandbox's whole PID namespace with it, and when bash exits the namespace ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lbi_icl.envs.swe.sandbox import Sandbox

CHUNK = 1 << 16


class ShellResult(BaseModel):
    """What a command did. `output` is stdout and stderr interleaved, already capped."""

    model_config = ConfigDict(extra="forbid")

    command: str
    exit_code: int
    output: str
    timed_out: bool = False
    cut_bytes: int = 0  # bytes removed from the middle by the output cap
    seconds: float = 0.0


class _CappedReader:
    """Keeps head and tail of a byte stream; `cap <= 0` keeps everything."""

    def __init__(self, stream: object, cap: int) -> None:
        self.stream, self.cap = stream, cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        half = self.cap // 2
        read = self.stream.read  # type: ignore[attr-defined]
        while chunk := read(CHUNK):
            self.total += len(chunk)
            if self.cap <= 0:
                self.head += chunk
                continue
            room = half - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > self.cap - half:
                    del self.tail[: len(self.tail) - (self.cap - half)]

    def text(self) -> tuple[str, int]:
        cut = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", errors="replace")
        if cut <= 0:
            return head + self.tail.decode("utf-8", errors="replace"), 0
        tail = self.tail.decode("utf-8", errors="replace")
        return f"{head}\n[... {cut} bytes cut ...]\n{tail}", cut


def cap_output(text: str, limit: int) -> tuple[str, int]:
    """The cap applied to a string already in memory (head and tail kept, cut counted)."""
    data = text.encode("utf-8")
    if limit <= 0 or len(data) <= limit:
        return text, 0
    half = limit // 2
    cut = len(data) - limit
    head = data[:half].decode("utf-8", errors="replace")
    tail = data[len(data) - (limit - half) :].decode("utf-8", errors="replace")
    return f"{head}\n[... {cut} bytes cut ...]\n{tail}", cut


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_shell(
    command: str,
    cwd: Path | str,
    *,
    timeout_s: float = 60.0,
    output_cap: int = 10_000,
    env: Mapping[str, str] | None = None,
    sandbox: Sandbox | None = None,
) -> ShellResult:
    """Run `command` with `bash -lc` in `cwd` (inside `sandbox` when given). On timeout the
    whole process group is killed and the exit code is 124 (like `timeout(1)`); the output
    read so far is kept."""
    start = time.perf_counter()
    argv = ["bash", "-lc", command]
    proc = subprocess.Popen(
        sandbox.argv(argv, cwd) if sandbox is not None else argv,
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    reader = _CappedReader(proc.stdout, output_cap)
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc.pid)  # the command's leftovers (background jobs) die with it
        proc.wait()
        reader.thread.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    text, cut = reader.text()
    if timed_out:
        text += f"\n[command timed out after {timeout_s:g} s and was killed]"
    return ShellResult(
        command=command,
        exit_code=124 if timed_out else int(proc.returncode),
        output=text,
        timed_out=timed_out,
        cut_bytes=cut,
        seconds=round(time.perf_counter() - start, 6),
    )
