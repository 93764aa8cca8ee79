"""Held-out sets for the offline retrieval benchmark: expert demonstrations of the first N
tasks of one split (`lbi heldout`). The project generates dev-split sets to tune on and
test-split sets to report on; it never tunes on test."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, Field

from lbi_icl.data import Trajectory
from lbi_icl.envs.base import Env, env_tasks
from lbi_icl.jsonl import write_jsonl

log = logging.getLogger(__name__)


class HeldoutSummary(BaseModel):
    env: str
    split: str
    tasks: int
    trajectories: int
    steps: int
    skipped: list[str] = Field(default_factory=list)  # task ids the expert did not solve
    out: str


def demonstrate_split(
    env: Env, split: str, tasks: int, out: Path, *, max_steps: int = 100
) -> HeldoutSummary:
    """Demonstrate `env.tasks(split)[:tasks]` with the env's expert and write the successful
    trajectories to `out` (atomically). Raises ValueError for an unknown split."""
    try:
        task_list = env_tasks(env, split, tasks)
    except Exception as e:
        raise ValueError(f"--split {split!r}: {e}") from e
    kept: list[Trajectory] = []
    skipped: list[str] = []
    for n, task in enumerate(task_list, start=1):
        try:
            traj = env.demonstrate(task, max_steps=max_steps)
        except Exception as e:  # a crashing expert skips the task, not the set
            log.warning("%s: expert failed on %s: %s", env.name, task.id, e)
            traj = None
        if traj is None or not traj.steps or traj.outcome != "success":
            skipped.append(task.id)
        else:
            kept.append(traj)
        if n % 10 == 0:
            log.info("%s %s: %d/%d tasks demonstrated", env.name, split, n, len(task_list))
    write_jsonl(out, kept)
    return HeldoutSummary(
        env=env.name,
        split=split,
        tasks=len(task_list),
        trajectories=len(kept),
        steps=sum(len(t.steps) for t in kept),
        skipped=skipped,
        out=str(out),
    )
