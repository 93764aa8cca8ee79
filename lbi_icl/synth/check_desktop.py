"""Environment check for desktop windows (`desktop`, `osworld`, `spider2v`): replay the
parent trajectory's actions on a fresh desktop (the same task, from its start state) and
keep a window only when every step up to its end changes what it changed when recorded —
the same accessibility-tree differences and the same files saved (`info["effect"]`,
`changes` and `saved`).

Every episode starts from a fresh desktop and a template HOME, so a parent is replayed once
and the index of its first step whose effect is not reproduced is cached: a window
[start, end) passes when that index is at or past `end`. The env is built from the task's
folder recorded in the trajectory (`metadata["tasks_dir"]`); the checker closes it with
`close()`. A replay costs one episode per parent trajectory (`--no-env-check` skips it).
"""

from __future__ import annotations

import logging
from typing import Any

from lbi_icl.data import Task, Trajectory
from lbi_icl.synth.base import WindowInstruction

log = logging.getLogger(__name__)


def _effect(info: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    effect = info.get("effect") or {}
    return tuple(effect.get("changes") or ()), tuple(effect.get("saved") or ())


def first_unreproduced(env: Any, parent: Trajectory) -> int | None:
    """Index of the first step whose recorded effect a replay does not reproduce (None when
    all are reproduced)."""
    task_id = parent.task_id
    if task_id is None:
        return 0
    task = Task(id=task_id, env=parent.env, instruction=parent.instruction, split=parent.split)
    env.reset(task)
    for i, step in enumerate(parent.steps):
        res = env.step(step.action)
        if _effect(res.info) != _effect(step.info):
            return i
        if res.done:
            return None if i + 1 == len(parent.steps) else i + 1
    return None


class DesktopWindowChecker:
    """`WindowChecker` for the desktop envs (see the module docstring)."""

    name = "env-check-desktop"

    def __init__(self, cache_size: int = 64) -> None:
        self._envs: dict[tuple[str, str], Any] = {}
        self._where: dict[str, int | None] = {}
        self._cache_size = cache_size
        self.reasons: dict[str, int] = {}

    def _env(self, parent: Trajectory) -> Any:
        from lbi_icl.envs import make_env

        tasks_dir = str(parent.metadata.get("tasks_dir") or "")
        key = (parent.env, tasks_dir)
        if key not in self._envs:
            options = {"tasks_dir": tasks_dir} if tasks_dir else {}
            self._envs[key] = make_env(parent.env, **options)
        return self._envs[key]

    def where(self, parent: Trajectory) -> int | None:
        if parent.id in self._where:
            return self._where[parent.id]
        try:
            found = first_unreproduced(self._env(parent), parent)
        except Exception as e:  # a failed replay fails the parent's windows, not the run
            log.warning("desktop check: replay of %s failed: %s", parent.id, e)
            found = 0
        if len(self._where) >= self._cache_size:
            self._where.pop(next(iter(self._where)))
        self._where[parent.id] = found
        return found

    def check(
        self, parent: Trajectory, start: int, end: int, instruction: WindowInstruction
    ) -> bool:
        where = self.where(parent)
        if where is None or where >= end:
            return True
        self.reasons["effect not reproduced"] = self.reasons.get("effect not reproduced", 0) + 1
        return False

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()


def make_checker(**options: Any) -> DesktopWindowChecker:
    return DesktopWindowChecker(**options)
