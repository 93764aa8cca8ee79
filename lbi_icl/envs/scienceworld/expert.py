"""The ScienceWorld expert: the simulator's gold action sequence per task (generated in the
JVM, cached in memory and on disk so reruns replay the same path) and its replay as an expert
`Trajectory` scored by the real simulator."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.envs.base import EnvError, StepResult
from lbi_icl.envs.scienceworld.table import ENV_NAME, _installed_version
from lbi_icl.jsonl import atomic_write_text

if TYPE_CHECKING:
    from lbi_icl.envs.scienceworld.env import ScienceWorldEnv

logger = logging.getLogger(__name__)


def gold_actions(env: ScienceWorldEnv, task: Task) -> list[str]:
    """The simulator's gold action sequence for `task`.

    Generating one plays the task through inside the JVM (up to ~40 s for mendelian
    genetics), and the result depends on what that JVM ran before (the gold agent
    explores containers in an order that varies), so sequences are cached in memory
    and in `gold_cache` (one small JSON file per task): reruns and resumed runs then
    replay the same path."""
    task_name, var = env._parse_id(task.id)
    key = (task_name, var, env.simplifications)
    if key in env._gold_cache:
        return list(env._gold_cache[key])
    path = env._gold_path_file(task_name, var)
    if path is not None and path.exists():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            gold = record["actions"]
            if not isinstance(gold, list) or not all(isinstance(a, str) for a in gold):
                raise ValueError("'actions' is not a list of strings")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise EnvError(f"{path}: bad gold-path cache file ({err}); delete it") from err
        env._gold_cache[key] = gold
        return list(gold)
    sw = env._ensure_jvm()
    env._task = task
    env._call(
        lambda: sw.server.load(task_name, var, env.simplifications, True),
        env.load_timeout_s,
        "load with gold path",
    )
    # the generation leaves the world in its final state: _start() reloads it
    gold = [str(a) for a in env._call(sw.server.getGoldActionSequence, 60, "gold path")]
    env.gold_generations += 1
    env._gold_cache[key] = gold
    if path is not None and gold and not gold[0].startswith("ERROR"):
        record = {"task_id": f"{task_name}/{var}", "simplifications": env.simplifications}
        record |= {"scienceworld_version": _installed_version(), "actions": gold}
        atomic_write_text(path, json.dumps(record, indent=0) + "\n")
    return list(gold)


def demonstrate(env: ScienceWorldEnv, task: Task, *, max_steps: int = 100) -> Trajectory | None:
    """Replay the simulator's gold action sequence; outcome comes from the real final
    score (success only at 100). None when the simulator has no gold path."""
    # the expert is bounded by max_steps, not by the agents' episode limit
    env._episode_limit = max(env.step_limit, max_steps)
    gold = env.gold_actions(task)
    if not gold or gold[0].startswith("ERROR"):
        logger.warning("scienceworld %s: no gold path (%s)", task.id, gold[:1])
        return None
    first = env._start(task)
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
    task_name, var = env._parse_id(task.id)
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
