"""The whole expert path of one task, even when the project's expert replay does not solve
it (`lbi heldout` without `--only-replayed`).

A held-out set of only the tasks the expert replay solves leans toward the easy, short
tasks; a benchmark run meets all of them. So for a task whose replay fails:

- ScienceWorld (an env with `gold_actions(task)`): the simulator's gold action sequence is
  played through to its end in a fresh world, every step recorded as the simulator answers
  it, without stopping where the replay failed (a negative score, the step limit) — the
  observations after a failure are still the simulator's own;
- BabyAI (an env with `expert_actions` / `play`): every action the bot took, also when it
  did not reach the goal;
- any other env: its `demonstrate` trajectory as it is (a failed one is kept).

Each trajectory's `metadata["replayed"]` says whether the replay succeeded;
`metadata["replay_end"]` why a failed one ended ('failed' at a negative score,
'incomplete' when the path ended short of the goal, 'step_limit' past the env's limit)
and `metadata["failed_at"]` the step where it first did.
"""

from __future__ import annotations

import logging
from typing import Any

from lbi_icl.data import Step, Task, Trajectory

log = logging.getLogger(__name__)

WHOLE = 100_000  # "no step limit": longer than any expert path of the supported envs


def mark(traj: Trajectory, replayed: bool, **extra: Any) -> Trajectory:
    """`traj` with `metadata['replayed']` (and `extra`) set."""
    meta = {**traj.metadata, "replayed": replayed, **extra}
    return traj.model_copy(update={"metadata": meta})


def gold_path_trajectory(env: Any, task: Task, max_steps: int) -> Trajectory | None:
    """ScienceWorld: the gold path played to its end (at most `max_steps` actions) without
    stopping at a failure; None when the simulator has no gold path."""
    gold = list(env.gold_actions(task))
    if not gold or gold[0].startswith("ERROR"):
        return None
    obs = env.reset(task)
    steps: list[Step] = []
    score = 0
    success = False
    failed_at: int | None = None
    end = "incomplete"
    for i, action in enumerate(gold[:max_steps]):
        result = env.step(action)
        score = int(result.info.get("score", 0))
        steps.append(
            Step(observation=obs, action=action, reward=result.reward, info={"score": score})
        )
        obs = result.observation
        if result.info.get("success"):
            success = True
            break
        if failed_at is None and result.done:
            failed_at = i
            end = "failed" if result.info.get("failed") else "step_limit"
    if success:  # solved after all (the first replay was cut by a step limit)
        end = "success"
    task_name, _, var = task.id.rpartition("/")
    return Trajectory(
        id=f"{env.name}/expert/{task_name}/{var}",
        env=env.name,
        instruction=task.instruction,
        steps=steps,
        final_observation=obs,
        outcome="success" if success else "failure",
        source={"kind": "expert", "task_id": task.id, "writer": "scienceworld-gold-path"},
        split=task.split,
        metadata={
            "task_id": task.id,
            "task_type": task_name,
            "variation": int(var) if var.isdigit() else var,
            "final_score": score,
            "gold_length": len(gold),
            "truncated": len(gold) > max_steps,
            "replayed": success,
            "replay_end": end,
            "failed_at": failed_at,
        },
    )


def bot_trajectory(env: Any, task: Task, max_steps: int) -> Trajectory | None:
    """BabyAI: every action the bot took on `task`, solved or not; None when it took none."""
    actions, status = env.expert_actions(task, max_steps=max_steps)
    if not actions:
        return None
    traj = env.play(task, actions, kind="expert", writer="BabyAIBot")
    return mark(traj, traj.outcome == "success", replay_end=status)


def whole_expert_path(
    env: Any, task: Task, max_steps: int, first: Trajectory | None
) -> Trajectory | None:
    """The task's whole expert path when `first` (the env's `demonstrate`) is not a
    success; None when there is none at all."""
    if callable(getattr(env, "gold_actions", None)):
        if first is not None and first.steps:
            gold_length = first.metadata.get("gold_length")
            if isinstance(gold_length, int) and len(first.steps) >= min(gold_length, max_steps):
                # played to its end without a failure: the path itself falls short
                return mark(first, False, replay_end="incomplete", failed_at=None)
        return gold_path_trajectory(env, task, max_steps)
    if callable(getattr(env, "expert_actions", None)) and callable(getattr(env, "play", None)):
        return bot_trajectory(env, task, max_steps)
    if first is not None and first.steps:
        return mark(first, False, replay_end="incomplete")
    return None
