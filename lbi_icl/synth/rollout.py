"""Stage 2 — rollouts: raw trajectories from an explorer, all seeded.

Explorers:
- ``expert``: the env's `demonstrate` (BabyAIBot, ScienceWorld's gold path).
- ``noisy_expert``: the expert with ε-random detours. Envs with a replanning expert
  implement ``demonstrate_noisy(task, *, epsilon, seed, max_steps)`` (BabyAI: the bot
  replans after each detour); otherwise the expert's actions are replayed with a random
  valid action inserted before each one with probability ε.
- ``random``: a random walk over `valid_actions()`.
- ``coverage``: a seeded walk that prefers valid actions it has not taken yet in this
  rollout (web: every interactive element gets tried before any is repeated); stops when
  the episode ends or every action it can see has been taken.
- ``llm``: a minimal LLM policy (prompt → "Action: ..."), no retrieval.

Step convention: step i holds o_i, the action a_{i+1} taken in it, and in `info` what the
env returned for that action (BabyAI: events, t, ...).
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from typing import Any

from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.envs.base import Env, StepResult, episode_task
from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.prompts import PromptSet, default_prompts

log = logging.getLogger(__name__)


@dataclass
class Rollout:
    trajectory: Trajectory | None
    skipped: str | None = None  # why there is no trajectory


def _trajectory(
    env: Env,
    task: Task,
    uid: str,
    explorer: str,
    steps: list[Step],
    final: str | None,
    last: StepResult | None,
    extra_source: dict[str, Any] | None = None,
) -> Trajectory:
    success = bool(last is not None and last.info.get("success"))
    return Trajectory(
        id=f"{uid}/{explorer}",
        env=env.name,
        instruction=task.instruction,
        steps=steps,
        final_observation=final,
        outcome="success"
        if success
        else ("failure" if last is not None and last.done else "unknown"),
        source={"kind": "rollout", "explorer": explorer, **(extra_source or {})},
        split=task.split,
        metadata={**task.metadata, "task_id": task.id},
    )


def rollout_expert(env: Env, task: Task, uid: str, *, max_steps: int) -> Rollout:
    demo = env.demonstrate(task, max_steps=max_steps)
    if demo is None:
        return Rollout(None, "expert failed or timed out")
    task = episode_task(env, task)  # the demonstrated episode's own goal, if the env has one
    return Rollout(
        demo.model_copy(
            update={
                "id": f"{uid}/expert",
                "instruction": task.instruction,
                "source": {**demo.source, "kind": "expert", "explorer": "expert"},
                "metadata": {**task.metadata, **demo.metadata, "task_id": task.id},
            }
        )
    )


def rollout_noisy_expert(
    env: Env,
    task: Task,
    uid: str,
    *,
    epsilon: float,
    seed: int,
    max_steps: int,
    demo: Trajectory | None = None,
) -> Rollout:
    """`demo`: the expert's trajectory when the caller already has it (saves one replay
    in envs without `demonstrate_noisy`)."""
    noisy = getattr(env, "demonstrate_noisy", None)
    if callable(noisy):
        traj = noisy(task, epsilon=epsilon, seed=seed, max_steps=max_steps)
        if traj is None:
            return Rollout(None, "expert failed or timed out")
        task = episode_task(env, task)
        return Rollout(
            traj.model_copy(
                update={
                    "id": f"{uid}/noisy_expert",
                    "instruction": task.instruction,
                    "source": {
                        **traj.source,
                        "kind": "rollout",
                        "explorer": "noisy_expert",
                        "epsilon": epsilon,
                    },
                    "metadata": {**task.metadata, **traj.metadata, "task_id": task.id},
                }
            )
        )
    if demo is None:
        demo = env.demonstrate(task, max_steps=max_steps)
    if demo is None:
        return Rollout(None, "expert failed or timed out")
    rng = random.Random(seed)
    obs = env.reset(task)
    task = episode_task(env, task)
    steps: list[Step] = []
    last: StepResult | None = None

    def act(action: str) -> bool:
        nonlocal obs, last
        last = env.step(action)
        steps.append(Step(observation=obs, action=action, reward=last.reward, info=last.info))
        obs = last.observation
        return last.done or len(steps) >= max_steps

    for gold in demo.actions():
        if rng.random() < epsilon and act(rng.choice(sorted(env.valid_actions() or [gold]))):
            break
        if act(gold):
            break
    return Rollout(
        _trajectory(env, task, uid, "noisy_expert", steps, obs, last, {"epsilon": epsilon})
    )


def rollout_random(env: Env, task: Task, uid: str, *, seed: int, max_steps: int) -> Rollout:
    rng = random.Random(seed)
    obs = env.reset(task)
    task = episode_task(env, task)
    steps: list[Step] = []
    last: StepResult | None = None
    for _ in range(max_steps):
        valid = env.valid_actions()
        if not valid:
            return Rollout(None, "environment lists no valid actions")
        action = rng.choice(sorted(valid))
        last = env.step(action)
        steps.append(Step(observation=obs, action=action, reward=last.reward, info=last.info))
        obs = last.observation
        if last.done:
            break
    return Rollout(_trajectory(env, task, uid, "random", steps, obs, last))


def rollout_coverage(env: Env, task: Task, uid: str, *, seed: int, max_steps: int) -> Rollout:
    rng = random.Random(seed)
    obs = env.reset(task)
    task = episode_task(env, task)
    steps: list[Step] = []
    last: StepResult | None = None
    taken: set[str] = set()
    for _ in range(max_steps):
        valid = env.valid_actions()
        if not valid:
            break
        fresh = sorted(a for a in valid if a not in taken)
        if not fresh:
            break  # everything visible was tried
        action = rng.choice(fresh)
        taken.add(action)
        last = env.step(action)
        steps.append(Step(observation=obs, action=action, reward=last.reward, info=last.info))
        obs = last.observation
        if last.done:
            break
    if not steps:
        return Rollout(None, "environment lists no valid actions")
    return Rollout(_trajectory(env, task, uid, "coverage", steps, obs, last))


_ACTION_LINE = re.compile(r"^\s*action\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def parse_llm_action(text: str) -> tuple[str | None, str]:
    """(action, thought): the last 'Action: ...' line, else the last non-empty line."""
    matches = _ACTION_LINE.findall(text)
    if matches:
        action = matches[-1].strip().strip("`'\"")
        thought = text[: text.lower().rfind("action")].strip()
        return (action or None), thought
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1].strip("`'\"") if lines else None), "\n".join(lines[:-1])


def rollout_llm(
    env: Env,
    task: Task,
    uid: str,
    llm: LLM,
    *,
    seed: int,
    max_steps: int,
    temperature: float = 0.0,
    history_steps: int = 5,
    prompts: PromptSet | None = None,
) -> Rollout:
    """A minimal LLM agent: instruction, recent history and observation in; one action out
    (templates `rollout_system`, `rollout_user`)."""
    prompts = prompts or default_prompts()
    system = prompts.render("rollout_system", env=env.name, action_space=env.action_space_text())
    params = GenerationParams(temperature=temperature, max_tokens=400, seed=seed)
    obs = env.reset(task)
    task = episode_task(env, task)
    steps: list[Step] = []
    last: StepResult | None = None
    for _ in range(max_steps):
        recent = steps[-history_steps:]
        history = (
            "\n".join(f"- {_short(s.observation)} -> {s.action}" for s in recent) or "(none yet)"
        )
        messages = [
            Message(role="system", content=system),
            Message(
                role="user",
                content=prompts.render(
                    "rollout_user", instruction=task.instruction, history=history, observation=obs
                ),
            ),
        ]
        text = llm.complete(messages, params).text
        action, thought = parse_llm_action(text)
        if not action:
            break
        last = env.step(action)
        steps.append(
            Step(
                observation=obs,
                action=action,
                thought=thought or None,
                reward=last.reward,
                info=last.info,
            )
        )
        obs = last.observation
        if last.done:
            break
    if not steps:
        return Rollout(None, "LLM produced no action")
    return Rollout(
        _trajectory(env, task, uid, "llm", steps, obs, last, {"writer": f"llm:{llm.spec}"})
    )


def _short(text: str, chars: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 3] + "..."
