"""Scripted MiniWoB++ experts: one solver per task, reading the task's utterance (the goal)
and the page (BrowserGym's DOM snapshot, `dom.Page`) and answering the next action in
BrowserGym's `miniwob_all` action set (`click`, `fill`, `keyboard_press`, `keyboard_type`,
`mouse_click`, ...), or None when it cannot go on. Solvers are closed-loop: each step
decides from the current page (plus a small per-episode `memory` dict), so an action whose
effect was lost is simply tried again.

Our own code, written from the tasks' HTML/JavaScript in the `miniwob` package (what a task
asks, how it checks the answer). `SOLVERS` names the tasks that have one;
`benchmarks/web/README.md` has each one's measured success.
"""

from __future__ import annotations

from typing import Any

from lbi_icl.envs.browsergym.experts.base import SOLVERS, Memory
from lbi_icl.envs.browsergym.experts.dom import Page

# the modules register their solvers on import
from lbi_icl.envs.browsergym.experts import clicks, email, forms, widgets  # noqa: F401  # isort: skip


def has_solver(task: str) -> bool:
    return task in SOLVERS


def expert_action(task: str, goal: str, obs: dict[str, Any], memory: Memory) -> str | None:
    """The next action of `task`'s solver on this observation (None: no solver, or stuck)."""
    solver = SOLVERS.get(task)
    if solver is None:
        return None
    return solver(Page(obs, goal), memory)


__all__ = ["SOLVERS", "expert_action", "has_solver"]
