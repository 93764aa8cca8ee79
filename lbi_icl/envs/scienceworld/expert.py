"""The ScienceWorld expert: the simulator's gold action sequence for a task (the env's
`gold_actions`, cached by gold.py) replayed through the env's public API as an expert
`Trajectory` scored by the real simulator."""

from __future__ import annotations

import logging
from typing import Protocol

from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.envs.base import StepResult
from lbi_icl.envs.scienceworld.table import ENV_NAME

logger = logging.getLogger(__name__)


class GoldReplayEnv(Protocol):
    """What the expert needs of the env (ScienceWorldEnv's public API)."""

    def gold_actions(self, task: Task) -> list[str]: ...

    def reset(self, task: Task, *, max_steps: int | None = None) -> str: ...

    def step(self, action: str) -> StepResult: ...


def demonstrate(env: GoldReplayEnv, task: Task, *, max_steps: int = 100) -> Trajectory | None:
    """Replay the simulator's gold action sequence; outcome comes from the real final
    score (success only at 100). None when the simulator has no gold path."""
    gold = env.gold_actions(task)
    if not gold or gold[0].startswith("ERROR"):
        logger.warning("scienceworld %s: no gold path (%s)", task.id, gold[:1])
        return None
    # the expert is bounded by max_steps, not by the agents' episode limit
    first = env.reset(task, max_steps=max_steps)
    steps: list[Step] = []
    obs = first
    score = 0
    result: StepResult | None = None
    for action in gold[:max_steps]:
        result = env.step(action)
        steps.append(
            Step(
                observation=obs,
                action=action,
                reward=result.reward,
                info={"score": result.info["score"]},
            )
        )
        obs = result.observation
        score = int(result.info["score"])
        if result.done:
            break
    success = result is not None and bool(result.info["success"])
    task_name, var = task.metadata["task_type"], task.metadata["variation"]
    return Trajectory(
        id=f"{ENV_NAME}/expert/{task_name}/{var}",
        env=ENV_NAME,
        instruction=task.instruction,
        steps=steps,
        final_observation=obs,
        outcome="success" if success else "failure",
        source={"kind": "expert", "task_id": task.id, "writer": "scienceworld-gold-path"},
        split=task.split,
        metadata={
            "task_id": task.id,
            "task_type": task_name,
            "variation": var,
            "final_score": score,
            "gold_length": len(gold),
            "truncated": len(gold) > max_steps,
        },
    )
