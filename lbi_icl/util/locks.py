"""Exclusive locks on outputs: one writer per run directory, dataset or index at a time.

`hold(target)` takes a POSIX record lock (`lockf`) on `.NAME.lock` beside the target
(beside, not inside, because indexes are swapped into place as whole directories) and
writes the holder into it: pid, host, start time and command line. A second process asking
for the same target gets `LockHeldError` naming that holder. The kernel drops the lock when
its process dies, so a lock file left by a killed process is stale by construction: the
next writer takes it over (and logs the dead holder it replaces). POSIX locks, not `flock`:
they are not inherited by forked children (environment workers), which may outlive a killed
parent by a moment. The lock file is removed on release; a writer
that opened a file another one just removed notices (different inode) and retries, so two
writers can never both hold the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class LockHeldError(RuntimeError):
    """Another process is writing the same output; the message names it."""

    def __init__(self, target: Path, holder: dict[str, Any]):
        self.target = target
        self.holder = holder
        who = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
        since = holder.get("started_at", "?")
        cmd = holder.get("command")
        cmd_txt = f" ({cmd})" if cmd else ""
        super().__init__(
            f"{target}: in use by another lbi process: {who}, started {since}{cmd_txt}; "
            "wait for it to finish or write somewhere else"
        )


def lock_path(target: Path) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def _holder_info() -> dict[str, Any]:
    from lbi_icl.util.scrub import scrub  # the command line may hold a URL with a secret

    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": scrub(
            " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        ),
    }


def _read_fd(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot, /proc/PID/stat field 22): with the pid,
    the identity of a process (a pid can be reused, the pair cannot). None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            stat = fh.read()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


# Targets this process holds (re-entrant: quickstart -> build_index on the same target).
_HELD: dict[str, int] = {}


@contextlib.contextmanager
def hold(target: str | Path) -> Iterator[None]:
    """Hold the exclusive lock on `target` for the block; raises `LockHeldError` at once if
    another process holds it. The lock is on the resolved path, so a symlink to the same
    output cannot let a second writer in."""
    target = Path(target).resolve()
    key = str(target)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(target, path)
    _HELD[key] = 1
    try:
        yield
    finally:
        del _HELD[key]
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(target: Path, path: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_fd(fd)
            os.close(fd)
            if e.errno in (errno.EACCES, errno.EAGAIN):
                raise LockHeldError(target, holder) from None
            raise
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the previous holder removed this file while we opened it: retry
            os.close(fd)
            continue
        old = _read_fd(fd)  # through our fd: closing another one would drop a POSIX lock
        if old.get("pid"):
            state = (
                "dead"
                if old.get("host") == socket.gethostname() and not pid_alive(int(old["pid"]))
                else "gone"
            )
            log.warning(
                "%s: taking over a stale lock (pid %s on %s, %s, started %s)",
                target,
                old.get("pid"),
                old.get("host"),
                state,
                old.get("started_at"),
            )
        data = json.dumps(_holder_info()).encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        return fd
