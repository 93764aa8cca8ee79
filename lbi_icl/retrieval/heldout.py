"""Held-out sets for the offline retrieval benchmark: expert demonstrations of N tasks of
one split (`lbi heldout`). The project generates dev sets to tune on (dev split, or train
variations past the ones synthesis used: `offset`) and test-split sets to report on; it
never tunes on test.

By default nothing is skipped: every task listed gets its whole expert path, the
simulator's gold path even when the project's expert replay does not solve it
(`heldout_gold`), flagged per trajectory in `metadata["replayed"]`. `only_replayed=True`
is the earlier behaviour: only the tasks the replay solves, at most 100 steps each."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, Field

from lbi_icl.data import Trajectory
from lbi_icl.data.jsonl import write_jsonl
from lbi_icl.envs.base import Env, env_tasks
from lbi_icl.index.write import task_label
from lbi_icl.retrieval.heldout_gold import WHOLE, mark, whole_expert_path

log = logging.getLogger(__name__)

ONLY_REPLAYED_MAX_STEPS = 100  # the step limit of `--only-replayed` (the earlier default)


class TypeMix(BaseModel):
    """One task type (family) of a held-out set."""

    task_type: str
    trajectories: int = 0
    replayed: int = 0
    steps: int = 0
    skipped: int = 0


class HeldoutSummary(BaseModel):
    env: str
    split: str
    offset: int = 0
    tasks: int
    trajectories: int
    replayed: int = 0  # trajectories whose expert replay solved the task
    steps: int
    only_replayed: bool = False
    max_steps: int | None = None
    skipped: list[str] = Field(default_factory=list)  # task ids with no trajectory written
    not_replayed: list[str] = Field(default_factory=list)  # kept, but the replay failed
    task_types: list[TypeMix] = Field(default_factory=list)
    out: str


def family(task_id: str, metadata: dict[str, object] | None = None) -> str:
    return task_label(task_id, metadata or {}) or task_id


def demonstrate_split(
    env: Env,
    split: str,
    tasks: int,
    out: Path,
    *,
    max_steps: int | None = None,
    only_replayed: bool = False,
    offset: int = 0,
) -> HeldoutSummary:
    """Demonstrate `env.tasks(split)[offset:offset + tasks]` and write the trajectories to
    `out` (atomically). Default: every task's whole expert path (`max_steps` None = no
    limit), failed replays included and flagged; `only_replayed`: only solved replays, at
    most `max_steps` (default 100) steps. Raises ValueError for an unknown split."""
    try:
        task_list = env_tasks(env, split, offset + tasks)[offset:]
    except Exception as e:
        raise ValueError(f"--split {split!r}: {e}") from e
    if not task_list:
        raise ValueError(f"--offset {offset}: split {split!r} has no tasks past it")
    if max_steps is None:
        max_steps = ONLY_REPLAYED_MAX_STEPS if only_replayed else WHOLE
    kept: list[Trajectory] = []
    skipped: list[str] = []
    not_replayed: list[str] = []
    mix: dict[str, TypeMix] = {}
    for n, task in enumerate(task_list, start=1):
        typ = mix.setdefault(family(task.id, task.metadata), TypeMix(task_type=""))
        typ.task_type = typ.task_type or family(task.id, task.metadata)
        traj = _demonstrate(env, task, max_steps, only_replayed)
        if traj is None:
            skipped.append(task.id)
            typ.skipped += 1
        else:
            kept.append(traj)
            typ.trajectories += 1
            typ.steps += len(traj.steps)
            if traj.metadata.get("replayed"):
                typ.replayed += 1
            else:
                not_replayed.append(task.id)
        if n % 10 == 0:
            log.info("%s %s: %d/%d tasks demonstrated", env.name, split, n, len(task_list))
    write_jsonl(out, kept)
    return HeldoutSummary(
        env=env.name,
        split=split,
        offset=offset,
        tasks=len(task_list),
        trajectories=len(kept),
        replayed=len(kept) - len(not_replayed),
        steps=sum(len(t.steps) for t in kept),
        only_replayed=only_replayed,
        max_steps=None if max_steps >= WHOLE else max_steps,
        skipped=skipped,
        not_replayed=not_replayed,
        task_types=sorted(mix.values(), key=lambda m: m.task_type),
        out=str(out),
    )


def _demonstrate(env: Env, task, max_steps: int, only_replayed: bool) -> Trajectory | None:  # type: ignore[no-untyped-def]
    try:
        first = env.demonstrate(task, max_steps=max_steps)
    except Exception as e:  # a crashing expert costs the task, not the set
        log.warning("%s: expert failed on %s: %s", env.name, task.id, e)
        first = None
    if first is not None and first.steps and first.outcome == "success":
        return mark(first, True)
    if only_replayed:
        return None
    try:
        return whole_expert_path(env, task, max_steps, first)
    except Exception as e:
        log.warning("%s: no whole expert path for %s: %s", env.name, task.id, e)
        return None
