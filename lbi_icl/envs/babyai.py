"""BabyAI (minigrid) as an `Env`: levels by name, tasks = (level, seed), text observations,
word actions, and minigrid's BabyAIBot as a guarded expert.

Splits use disjoint seed ranges (train from 0, dev from 1,000,000, test from 2,000,000),
so no start state is shared between splits. A task id reads ``BabyAI-GoToLocal-v0/seed-123``.

Each step's `info` carries what later stages need: `task_id`, `level`, `seed`, `t` (how
many actions have been taken, this one included), `action_index`, `events` (what the
action achieved: goto / pickup / drop / put_next / open / close, see `babyai_text`),
`score` (minigrid's reward) and `success`. A window can be replayed from its start state
by resetting (level, seed) and re-applying the parent's first `t - 1` actions.

The mission is the task's instruction; it is not repeated in every observation by default
because synthetic windows get new instructions (backward construction) and a stale
"Mission:" line would contradict them. `show_mission=True` gives BALROG's layout.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
from collections.abc import Iterator, Sequence
from typing import Any

from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs.babyai_docs import ENV_NAME, babyai_documents
from lbi_icl.envs.babyai_text import (
    ACTION_WORDS,
    DONE,
    events_between,
    parse_action,
    render_observation,
    snapshot,
)
from lbi_icl.envs.base import EnvError, StepResult
from lbi_icl.envs.guard import RemoteError, SubprocessWorker, WorkerCrashed, WorkerTimeout

log = logging.getLogger(__name__)


# Levels the bot solves quickly and that together cover every event the hindsight
# relabeler writes (go to, pick up, open, put next to).
DEFAULT_LEVELS: tuple[str, ...] = (
    "BabyAI-GoToRedBallGrey-v0",
    "BabyAI-GoToRedBall-v0",
    "BabyAI-GoToObj-v0",
    "BabyAI-GoToLocal-v0",
    "BabyAI-GoToDoor-v0",
    "BabyAI-PickupLoc-v0",
    "BabyAI-PickupDist-v0",
    "BabyAI-PutNextLocal-v0",
    "BabyAI-OpenDoor-v0",
    "BabyAI-OpenRedDoor-v0",
    "BabyAI-UnlockLocal-v0",
    "BabyAI-ActionObjDoor-v0",
)

SPLIT_SEED_BASE: dict[str, int] = {"train": 0, "dev": 1_000_000, "test": 2_000_000}
SPLIT_SEED_RANGE = 1_000_000
DEFAULT_TASKS_PER_LEVEL: dict[str, int] = {"train": 1000, "dev": 25, "test": 50}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """minigrid prints 'Sampling rejected: ...' on stdout while generating levels."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def make_level(level: str) -> Any:
    """The unwrapped minigrid env of a BabyAI level (no gymnasium wrappers: faster)."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the BabyAI-* ids)

    try:
        env = gym.make(level).unwrapped
    except gym.error.Error as e:
        raise EnvError(f"babyai: unknown level {level!r}: {e}") from e
    # Nothing here reads minigrid's image observation (the text view, the bot and the
    # verifiers use the grid itself), and computing it is about half the cost of a step.
    env.gen_obs = _no_image
    return env


def _no_image() -> dict[str, Any]:
    return {}


def reset_level(env: Any, seed: int) -> None:
    with _quiet():
        env.reset(seed=seed)


def replay(level: str, seed: int, actions: Sequence[int], env: Any | None = None) -> Any:
    """The level's env after reset(seed) and `actions` (the start state of a window)."""
    env = env if env is not None else make_level(level)
    reset_level(env, seed)
    for a in actions:
        env.step(int(a))
    return env


def encode_actions(actions: Sequence[int]) -> str:
    """Compact action record for replay: one digit per action ('0122')."""
    return "".join(str(int(a)) for a in actions)


def decode_actions(text: str) -> list[int]:
    return [int(c) for c in text]


def _bot_actions(
    level: str, seed: int, max_steps: int, epsilon: float, rng_seed: int
) -> tuple[list[int], str]:
    """Runs in the expert worker: BabyAIBot's actions, with ε-random detours.

    Returns (actions, status) with status 'success' | 'failure' | 'max_steps' | 'bot_error'.
    """
    from minigrid.utils.baby_ai_bot import BabyAIBot

    env = make_level(level)
    reset_level(env, seed)
    bot = BabyAIBot(env)
    rng = random.Random(rng_seed)
    actions: list[int] = []
    taken: int | None = None
    for _ in range(max_steps):
        try:
            suggested = int(bot.replan(taken))
        except Exception:  # DisappearedBoxError, planner asserts
            return actions, "bot_error"
        action = suggested
        if epsilon > 0 and rng.random() < epsilon:
            action = rng.randrange(DONE)  # any action but 'done'
        elif suggested == DONE:
            return actions, "failure"
        _, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        taken = action
        if terminated or truncated:
            return actions, "success" if reward > 0 else "failure"
    return actions, "max_steps"


class BabyAIEnv:
    """BabyAI levels behind the `Env` protocol (see the module docstring)."""

    name = ENV_NAME
    # why `lbi rescore` cannot score a BabyAI episode from its log (envs.base.OfflineScorer)
    no_offline_score = (
        "success is minigrid's reward, computed from the simulator's grid state; the step "
        "log holds only the text view of it (replaying the actions would rerun the episode, "
        "not re-score it)"
    )

    def __init__(
        self,
        levels: Sequence[str] | str | None = None,
        *,
        tasks_per_level: dict[str, int] | int | None = None,
        show_mission: bool = False,
        expert_timeout_s: float = 10.0,
        expert_memory_mb: int | None = 2048,
    ):
        if isinstance(levels, str):
            levels = [x.strip() for x in levels.split(",") if x.strip()]
        self.levels: tuple[str, ...] = tuple(levels) if levels else DEFAULT_LEVELS
        if isinstance(tasks_per_level, int):
            tasks_per_level = dict.fromkeys(SPLIT_SEED_BASE, tasks_per_level)
        self.tasks_per_level = {**DEFAULT_TASKS_PER_LEVEL, **(tasks_per_level or {})}
        for split, n in self.tasks_per_level.items():
            if not 0 <= n <= SPLIT_SEED_RANGE:
                raise ValueError(f"tasks_per_level[{split!r}]={n} outside 0..{SPLIT_SEED_RANGE}")
        self.show_mission = show_mission
        self.expert_timeout_s = expert_timeout_s
        self.expert_memory_mb = expert_memory_mb
        self.expert_stats: dict[str, int] = {}
        self._envs: dict[str, Any] = {}
        self._missions: dict[tuple[str, int], str] = {}
        self._worker: SubprocessWorker | None = None
        self._env: Any = None
        self._task: Task | None = None
        self._level = ""
        self._seed = 0
        self._t = 0
        self._done = False
        self._mission = ""

    # -- tasks ------------------------------------------------------------------------

    def _level_env(self, level: str) -> Any:
        env = self._envs.get(level)
        if env is None:
            env = self._envs[level] = make_level(level)
        return env

    def mission(self, level: str, seed: int) -> str:
        key = (level, seed)
        if key not in self._missions:
            env = self._level_env(level)
            reset_level(env, seed)
            self._missions[key] = str(env.mission)
        return self._missions[key]

    def make_task(self, level: str, seed: int, split: str | None = None) -> Task:
        return Task(
            id=f"{level}/seed-{seed}",
            env=self.name,
            instruction=self.mission(level, seed),
            split=split,
            metadata={"level": level, "seed": seed},
        )

    def tasks(self, split: str, limit: int | None = None) -> list[Task]:
        """Tasks of a split, levels interleaved (so any prefix covers all levels).
        `limit` stops early: each task costs one level reset to read its mission."""
        if split not in SPLIT_SEED_BASE:
            raise ValueError(f"babyai: unknown split {split!r}; use one of {list(SPLIT_SEED_BASE)}")
        base, per_level = SPLIT_SEED_BASE[split], self.tasks_per_level[split]
        out: list[Task] = []
        for k in range(per_level):
            for level in self.levels:
                if limit is not None and len(out) >= limit:
                    return out
                out.append(self.make_task(level, base + k, split))
        return out

    @staticmethod
    def parse_task_id(task_id: str) -> tuple[str, int]:
        level, sep, rest = task_id.partition("/seed-")
        if not sep or not rest.isdigit():
            raise ValueError(f"not a BabyAI task id (LEVEL/seed-N): {task_id!r}")
        return level, int(rest)

    def _task_level_seed(self, task: Task) -> tuple[str, int]:
        level, seed = task.metadata.get("level"), task.metadata.get("seed")
        if isinstance(level, str) and isinstance(seed, int):
            return level, seed
        return self.parse_task_id(task.id)

    # -- episode ------------------------------------------------------------------------

    def reset(self, task: Task) -> str:
        level, seed = self._task_level_seed(task)
        self._env = self._level_env(level)
        reset_level(self._env, seed)
        self._task, self._level, self._seed = task, level, seed
        self._t, self._done = 0, False
        self._mission = task.instruction or str(self._env.mission)
        return self._observe()

    def _observe(self) -> str:
        return render_observation(self._env, self._mission if self.show_mission else None)

    def step(self, action: str) -> StepResult:
        if self._env is None or self._task is None:
            raise EnvError("babyai: step before reset")
        if self._done:
            raise EnvError(f"babyai: task {self._task.id!r}, step {self._t + 1}: episode is over")
        index = parse_action(action)
        base_info: dict[str, Any] = {
            "task_id": self._task.id,
            "level": self._level,
            "seed": self._seed,
        }
        if index is None:
            return StepResult(
                observation=f"Invalid action {action!r}. Choose one of: "
                + ", ".join(ACTION_WORDS)
                + ".\n"
                + self._observe(),
                info={**base_info, "t": self._t, "invalid_action": True, "events": []},
            )
        before = snapshot(self._env)
        _, reward, terminated, truncated, _ = self._env.step(index)
        self._t += 1
        events = events_between(before, self._env, index)
        self._done = bool(terminated or truncated)
        success = bool(terminated and reward > 0)
        return StepResult(
            observation=self._observe(),
            reward=float(reward),
            done=self._done,
            info={
                **base_info,
                "t": self._t,
                "action_index": index,
                "events": events,
                "score": float(reward),
                "success": success,
            },
        )

    def action_space_text(self) -> str:
        return (
            "You act in a BabyAI grid world. Answer with exactly one of these actions:\n"
            "- turn left: turn 90 degrees to the left\n"
            "- turn right: turn 90 degrees to the right\n"
            "- go forward: move one step forward (blocked by walls, closed doors, objects)\n"
            "- pick up: pick up the object right in front of you (you carry at most one)\n"
            "- drop: put the carried object down right in front of you\n"
            "- toggle: open or close the door in front of you (a locked door needs the key "
            "of its color in your hands)\n"
            "- done: say you are finished"
        )

    def valid_actions(self) -> list[str]:
        return list(ACTION_WORDS)

    def documents(self) -> list[Document]:
        return babyai_documents(self.levels)

    # -- expert -------------------------------------------------------------------------

    def _expert_worker(self) -> SubprocessWorker:
        if self._worker is None:
            self._worker = SubprocessWorker(
                memory_limit_mb=self.expert_memory_mb,
                preload=("lbi_icl.envs.babyai", "minigrid.utils.baby_ai_bot"),
                name="lbi-babyai-bot",
            )
        return self._worker

    def expert_actions(
        self, task: Task, *, max_steps: int = 100, epsilon: float = 0.0, seed: int = 0
    ) -> tuple[list[int], str]:
        """The bot's action indices for `task` and a status; never hangs: the bot runs in a
        killable worker under `expert_timeout_s` and a memory cap. Status 'timeout' /
        'crashed' / 'bot_error' / 'max_steps' / 'failure' / 'success'."""
        level, level_seed = self._task_level_seed(task)
        try:
            actions, status = self._expert_worker().call(
                _bot_actions,
                level,
                level_seed,
                max_steps,
                epsilon,
                seed,
                timeout_s=self.expert_timeout_s,
            )
        except WorkerTimeout:
            actions, status = [], "timeout"
        except WorkerCrashed:
            actions, status = [], "crashed"
        except RemoteError as e:
            log.debug("bot failed on %s: %s", task.id, e)
            actions, status = [], "bot_error"
        self.expert_stats[status] = self.expert_stats.get(status, 0) + 1
        if status in ("timeout", "crashed"):
            log.info("babyai expert %s on %s; skipped", status, task.id)
        return actions, status

    def play(
        self, task: Task, actions: Sequence[int | str], *, kind: str, writer: str
    ) -> Trajectory:
        """Reset to `task`, apply `actions`, and record the trajectory (text, events)."""
        obs = self.reset(task)
        steps: list[Step] = []
        last: StepResult | None = None
        for a in actions:
            word = ACTION_WORDS[a] if isinstance(a, int) else a
            last = self.step(word)
            steps.append(Step(observation=obs, action=word, reward=last.reward, info=last.info))
            obs = last.observation
            if last.done:
                break
        success = bool(last and last.info.get("success"))
        return Trajectory(
            id=f"{task.id}/{kind}",
            env=self.name,
            instruction=task.instruction,
            steps=steps,
            final_observation=obs,
            outcome="success" if success else "failure",
            source={"kind": "expert" if kind == "expert" else "rollout", "writer": writer},
            split=task.split,
            metadata={
                "task_id": task.id,
                "level": self._level,
                "seed": self._seed,
                "score": float(last.reward) if last else 0.0,
            },
        )

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        """BabyAIBot's demonstration, or None when the bot fails, loops or times out."""
        actions, status = self.expert_actions(task, max_steps=max_steps)
        if status != "success":
            return None
        return self.play(task, actions, kind="expert", writer="BabyAIBot")

    def demonstrate_noisy(
        self, task: Task, *, epsilon: float, seed: int, max_steps: int = 100
    ) -> Trajectory | None:
        """The bot with ε-random detours (it replans after each one), so the data holds
        realistic mistakes and recoveries. Failed episodes are kept; None only when the
        bot timed out or crashed."""
        actions, status = self.expert_actions(task, max_steps=max_steps, epsilon=epsilon, seed=seed)
        if status in ("timeout", "crashed") or not actions:
            return None
        traj = self.play(task, actions, kind=f"noisy-expert-{seed}", writer="BabyAIBot+eps")
        traj.source["epsilon"] = epsilon
        return traj

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        for env in self._envs.values():
            with contextlib.suppress(Exception):
                env.close()
        self._envs.clear()
        self._env = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._worker is not None:
                self._worker.kill()
