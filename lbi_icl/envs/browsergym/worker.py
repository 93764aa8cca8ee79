"""The worker process that owns the browsers, and how the parent stops it.

`BrowserWorker` is the guard's `SubprocessWorker` (a persistent child with a wall-time
limit per call) plus two things a browser needs:

- the child asks Linux to kill it when its parent dies (`prctl(PR_SET_PDEATHSIG)`); the
  Playwright driver below it then sees its stdin close and shuts its browsers down;
- `kill()` also kills the process groups of every process the session reported below the
  worker (Playwright starts Chromium in a group of its own), so a hung browser cannot
  outlive a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from typing import Any

from lbi_icl.envs.browsergym import procs
from lbi_icl.envs.guard import SubprocessWorker, _worker_main

log = logging.getLogger(__name__)

_SESSION: Any = None


def _browser_worker_main(conn: Any, parent_end: Any, memory_limit_mb: int | None, tag: str) -> None:
    procs.die_with_parent()
    os.environ[procs.TAG_VAR] = tag  # inherited by the driver, browsers and their helpers
    # A Playwright instance the parent had started was copied by fork, but its driver and
    # event loop belong to the parent: forget it, this process starts its own.
    core = sys.modules.get("browsergym.core")
    if core is not None:
        core._PLAYWRIGHT = None  # type: ignore[attr-defined]
    try:
        _worker_main(conn, parent_end, memory_limit_mb)
    finally:
        session_close()


def session_open(config: dict[str, Any]) -> int:
    """(in the worker) Build the browser session; returns the worker's pid."""
    global _SESSION
    import os

    from lbi_icl.envs.browsergym.session import BrowserSession, SessionConfig

    if _SESSION is not None:
        session_close()
    _SESSION = BrowserSession(SessionConfig.model_validate(config))
    return os.getpid()


# Calls after which the browser processes are new (a reset relaunches both browsers).
_NEW_BROWSERS = frozenset({"reset"})


def session_call(method: str, *args: Any, **kwargs: Any) -> Any:
    """(in the worker) Call a method of the session; after a reset also returns the browser
    pids (None otherwise), so the parent can kill their process groups if this worker ever
    hangs. Not after every step: that is a scan of /proc per step, and what a step may add
    (a renderer) lives in a group already known and below the worker, where `kill()` looks
    anyway."""
    if _SESSION is None:
        raise RuntimeError("browser session not open")
    result = getattr(_SESSION, method)(*args, **kwargs)
    return result, (_SESSION.browser_pids() if method in _NEW_BROWSERS else None)


def session_close() -> None:
    global _SESSION
    session, _SESSION = _SESSION, None
    if session is not None:
        with contextlib.suppress(Exception):
            session.close()


class BrowserWorker(SubprocessWorker):
    """A `SubprocessWorker` whose child dies with its parent and whose kill also kills the
    browsers below it."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.tag = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.browser_pids: list[int] = []
        self.browser_groups: list[int] = []

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_browser_worker_main,
            args=(child, parent, self.memory_limit_mb, self.tag),
            name=self._name,
            daemon=True,
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def note_pids(self, pids: list[int]) -> None:
        self.browser_pids = list(pids)
        self.browser_groups = procs.process_groups(pids)

    def tagged_pids(self) -> list[int]:
        """Every live process this worker started, helpers re-parented to init included."""
        return procs.tagged(self.tag)

    def kill(self) -> None:
        pids, groups = self.browser_pids, self.browser_groups
        if self._proc is not None:  # processes started since the last report
            pids = sorted(set(pids) | set(procs.descendants(self._proc.pid)))
            groups = sorted(set(groups) | set(procs.process_groups(pids)))
        super().kill()
        left = procs.kill_groups(groups, sorted(set(pids) | set(self.tagged_pids())))
        if left:
            log.warning("browser processes still alive after kill: %s", left)
        self.browser_pids, self.browser_groups = [], []

    def close(self, timeout_s: float = 15.0) -> None:
        """Polite shutdown (the session closes its browsers), then kill what is left."""
        if self._proc is not None:
            self.note_pids(sorted(set(self.browser_pids) | set(procs.descendants(self._proc.pid))))
        if self._conn is not None and self.alive:
            with contextlib.suppress(Exception):
                self._conn.send(None)
            self._proc.join(timeout=timeout_s)
        self.kill()
