"""Process bookkeeping for the browser: which processes a worker started, and killing them.

Playwright starts a Node driver, and the driver starts Chromium in a process group of its
own (so a kill of the worker's group would not reach it). The browser session therefore
reports the process groups of everything below the worker, and the parent kills those
groups after the worker is gone. Linux only (`/proc`); elsewhere the lists are empty and
the driver's own shutdown (it closes its browsers when its stdin closes) is all there is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from lbi_icl.util.lifetime import arm_parent_death_signal

_PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, comm) of `pid`, or None when it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may contain spaces: split after the last ')'
    head, _, rest = raw.rpartition(")")
    fields = rest.split()
    comm = head.partition("(")[2]
    try:
        return int(fields[1]), int(fields[2]), comm
    except (IndexError, ValueError):
        return None


def _table() -> dict[int, tuple[int, int, str]]:
    out: dict[int, tuple[int, int, str]] = {}
    if not _PROC.is_dir():
        return out
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                out[int(entry.name)] = st
    return out


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, grandchildren, ...)."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return sorted(out)


TAG_VAR = "LBI_BROWSER_TAG"


def tagged(tag: str) -> list[int]:
    """Every live process whose environment holds `LBI_BROWSER_TAG=<tag>`: the worker sets
    it before starting Playwright, and the driver, the browsers and the helpers Chromium
    re-parents to init (crashpad handlers) all inherit it."""
    needle = f"{TAG_VAR}={tag}".encode()
    out = []
    if not _PROC.is_dir():
        return out
    me = os.getpid()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle + b"\0" in env or env.endswith(needle):
            out.append(int(entry.name))
    return sorted(alive(out))


def process_groups(pids: list[int]) -> list[int]:
    """The process groups of `pids` that are not this process's own group."""
    own = os.getpgid(0)
    groups = {st[1] for pid in pids if (st := _stat(pid)) is not None}
    return sorted(g for g in groups if g > 1 and g != own)


def alive(pids: list[int]) -> list[int]:
    """The pids of `pids` that still exist and are not zombies."""
    out = []
    for pid in pids:
        try:
            state = (_PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(pid)
    return out


def kill_groups(groups: list[int], pids: list[int], *, wait_s: float = 5.0) -> list[int]:
    """SIGKILL `groups` and `pids`; wait up to `wait_s` for the pids to go; return the
    pids still alive (normally none)."""
    for g in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(g, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    left = alive(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = alive(pids)
    return left


def rss_mb(pids: list[int]) -> float:
    """Summed resident memory of `pids` in MiB (shared pages counted once per process)."""
    total = 0
    for pid in pids:
        try:
            for line in (_PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024.0


def pss_mb(pids: list[int]) -> float:
    """Summed proportional set size of `pids` in MiB: shared pages split between the
    processes sharing them, so the sum is what the group really costs. Falls back to RSS
    where /proc/PID/smaps_rollup is missing."""
    total = 0.0
    for pid in pids:
        try:
            for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024.0
                    break
        except (OSError, ValueError, IndexError):
            total += rss_mb([pid])
    return total


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    arm_parent_death_signal()
