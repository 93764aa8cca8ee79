"""Environment check for ScienceWorld windows: replay the parent trajectory's actions from
its task's start state in a real simulator and keep a window only when every observation
it shows, and the one after its last action, is reproduced exactly.

The simulator is deterministic for a task variation, so the parent is replayed once and
the index of its first unreproduced observation is cached: a window [start, end) passes
when that index is past `end` (its start state and all its observations were reproduced).
The checker starts its own simulator (one JVM) on first use and closes it with `close()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lbi_icl.data import Trajectory
from lbi_icl.synth.base import WindowInstruction

log = logging.getLogger(__name__)


def _default_env() -> Any:
    from lbi_icl.envs import make_env

    return make_env("scienceworld")


def first_mismatch(env: Any, parent: Trajectory) -> int | None:
    """Index i of the first recorded observation o_i (o_n = the final observation) that a
    replay of the parent's actions does not reproduce; None when all are reproduced."""
    task_id = parent.task_id
    if task_id is None:
        return 0
    observed = parent.observations()  # o_0..o_n, the final observation included
    got = env.reset(env.task(task_id))
    if not observed or got != observed[0]:
        return 0
    for i, step in enumerate(parent.steps):
        if i + 1 >= len(observed):
            break
        res = env.step(step.action)
        if res.observation != observed[i + 1]:
            return i + 1
        if res.done and i + 2 < len(observed):
            return i + 2  # the recorded trajectory goes on where the simulator stopped
    return None


class ScienceWorldWindowChecker:
    """`WindowChecker` for ScienceWorld (see the module docstring)."""

    name = "env-check-scienceworld"

    def __init__(self, cache_size: int = 64, env_factory: Callable[[], Any] = _default_env) -> None:
        self._factory = env_factory
        self._env: Any = None
        self._mismatch: dict[str, int | None] = {}
        self._cache_size = cache_size
        self.reasons: dict[str, int] = {}

    def mismatch(self, parent: Trajectory) -> int | None:
        if parent.id in self._mismatch:
            return self._mismatch[parent.id]
        if self._env is None:
            self._env = self._factory()
        try:
            where = first_mismatch(self._env, parent)
        except Exception as e:  # a simulator error fails the parent's windows, not the run
            log.warning("scienceworld check: replay of %s failed: %s", parent.id, e)
            where = 0
        if len(self._mismatch) >= self._cache_size:
            self._mismatch.pop(next(iter(self._mismatch)))
        self._mismatch[parent.id] = where
        return where

    def check(
        self, parent: Trajectory, start: int, end: int, instruction: WindowInstruction
    ) -> bool:
        where = self.mismatch(parent)
        if where is None or where > end:
            return True
        self.reasons["observation not reproduced"] = (
            self.reasons.get("observation not reproduced", 0) + 1
        )
        return False

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None


def make_checker(**options: Any) -> ScienceWorldWindowChecker:
    return ScienceWorldWindowChecker(**options)
