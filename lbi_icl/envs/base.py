"""The environment protocol: what the synthesis pipeline and the agent loop need from a
benchmark, and nothing more. Third parties register their own through the
`lbi_icl.envs` entry-point group."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.data import Document, Task, Trajectory


class StepResult(BaseModel):
    """The environment's answer to one action. `info` carries `score` (benchmark scale) and
    `success` where the benchmark defines them."""

    model_config = ConfigDict(extra="forbid")

    observation: str
    reward: float = 0.0
    done: bool = False
    info: dict[str, Any] = Field(default_factory=dict)


class EnvError(RuntimeError):
    """An environment failed or timed out; the message names the task and step."""


@runtime_checkable
class Env(Protocol):
    name: str

    def tasks(self, split: str) -> list[Task]:
        """Tasks of a split ('train' | 'dev' | 'test'), in a stable order."""
        ...

    def reset(self, task: Task) -> str:
        """Start `task`; return the first observation o_0 (text)."""
        ...

    def step(self, action: str) -> StepResult: ...

    def action_space_text(self) -> str:
        """How to act, for the system prompt."""
        ...

    def valid_actions(self) -> list[str] | None:
        """Valid actions in the current state, or None when the environment cannot list them.
        Only computed when called (it can be the most expensive part of a step)."""
        ...

    def documents(self) -> list[Document]:
        """Environment documentation: input to self-instruct and the RAG baseline."""
        ...

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        """An expert demonstration of `task`, or None when no expert exists or it failed."""
        ...

    def close(self) -> None: ...


class Rescored(BaseModel):
    """An episode scored again from its run log (`lbi rescore`): the outcome on the env's
    own scale, and anything a reader should know about how it was reached."""

    model_config = ConfigDict(extra="forbid")

    success: bool
    score: float | None = None
    note: str = ""


class CannotRescore(EnvError):
    """This episode cannot be scored from what its run log holds (its evaluator reads the
    live site or desktop, the log predates what is needed, ...); the message says why, in
    one sentence that `lbi rescore` shows as the episode's note."""


# `files` of OfflineScorer.rescore: a path the episode's log names (relative to the run
# directory) -> that file; ValueError when it leads outside the run directory
RunFiles = Callable[[str], Path]


@runtime_checkable
class OfflineScorer(Protocol):
    """An optional capability of an env: score a finished episode again from what its run
    log holds (the step-log lines as written, any format version upgraded, and the files
    the env saved in the run directory at the episode's end, found through `files`),
    without the live episode. `lbi rescore` uses it. An env without it -- or whose class
    sets `no_offline_score` (a sentence saying why), which wins over an inherited
    `rescore` -- is listed as one that cannot rescore offline.

    `rescore` returns None when this episode's log holds nothing to score (a swe episode
    that never submitted); it raises CannotRescore when this episode cannot be scored
    offline (the reason is shown), and may raise EnvError."""

    def rescore(
        self, task: Task, steps: list[dict[str, Any]], files: RunFiles
    ) -> Rescored | None: ...


def env_tasks(env: Env, split: str, n: int | None = None) -> list[Task]:
    """The first `n` tasks of `split` (all with None), asking for no more than needed when
    the env's `tasks()` takes a `limit` (listing can cost one reset per task). Raises
    ValueError when the split has none."""
    if n is not None and "limit" in inspect.signature(env.tasks).parameters:
        tasks = env.tasks(split, limit=n)  # type: ignore[call-arg]
    else:
        tasks = env.tasks(split)
    if not tasks:
        raise ValueError(f"{env.name}: split {split!r} has no tasks")
    return list(tasks if n is None else tasks[:n])


def episode_task(env: Any, task: Task) -> Task:
    """`task` as the episode just reset in `env` states it: an env whose goal is only known
    once the episode runs (MiniWoB's seed-specific utterance) answers `episode_goal()`;
    that goal becomes the instruction and the task's own text stays in
    `metadata["description"]`. Any other env, or a self-instructed task (its instruction
    is the synthetic one; `metadata["self_instruct"]`): `task` unchanged."""
    if "self_instruct" in task.metadata:
        return task
    try:  # (a guarded env in process mode answers a missing name with an EnvError)
        goal_of = getattr(env, "episode_goal", None)
    except (AttributeError, EnvError):
        goal_of = None
    goal = goal_of() if callable(goal_of) else None
    if not isinstance(goal, str) or not goal.strip() or goal.strip() == task.instruction:
        return task
    meta = {**task.metadata, "description": task.metadata.get("description", task.instruction)}
    return task.model_copy(update={"instruction": goal.strip(), "metadata": meta})
