"""Fakes for the runner tests: a deterministic episode function (no env, no LLM) and a
subprocess entry point for the kill-and-resume test. Importable by spawned workers."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from lbi_icl.agent.base import EpisodeResult, StepLog
from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.runner.config import RunConfig

TOKENS_IN, TOKENS_OUT = 11, 3


def make_tasks(n: int, env: str = "fake") -> list[Task]:
    return [
        Task(id=f"task/{i}", env=env, instruction=f"reach goal {i}", split="test") for i in range(n)
    ]


def outcome(strategy: str, task_id: str, seed: int) -> tuple[int, bool]:
    """(steps, success) for an episode: deterministic, different across keys."""
    h = int(hashlib.sha256(f"{strategy}|{task_id}|{seed}".encode()).hexdigest(), 16)
    return 1 + h % 4, (h >> 8) % 3 != 0


class FakeEpisode:
    """An EpisodeFn: emits its steps through on_step, like the real agent loop."""

    def __init__(
        self, *, delay: float = 0.0, fail: frozenset[str] = frozenset(), policy: str = "retrieval"
    ):
        self.delay = delay
        self.fail = fail
        self.policy = policy
        self.calls = 0

    def __call__(self, task: Task, strategy: str, seed: int, on_step) -> EpisodeResult:
        self.calls += 1
        n, success = outcome(strategy, task.id, seed)
        steps = []
        for i in range(n):
            time.sleep(self.delay)
            obs = f"obs {i} of {task.id}"
            on_step(
                StepLog(
                    step=i,
                    observation=obs,
                    strategy=strategy,
                    prompt_sha256="0" * 64,
                    raw_output="go forward",
                    action="go forward",
                    parsed=True,
                    next_observation=f"obs {i + 1} of {task.id}",
                    input_tokens=TOKENS_IN,
                    output_tokens=TOKENS_OUT,
                )
            )
            steps.append(Step(observation=obs, action="go forward"))
            if task.id in self.fail and i == 0:
                raise RuntimeError(f"env crashed on {task.id}")
        traj = Trajectory(
            id=f"ep-{strategy}-{task.id}-{seed}",
            env=task.env,
            instruction=task.instruction,
            steps=steps,
            final_observation=f"obs {n} of {task.id}",
            outcome="success" if success else "failure",
            source={"kind": "agent_run"},
        )
        return EpisodeResult(
            task_id=task.id,
            env=task.env,
            strategy=strategy,
            policy=self.policy,
            seed=seed,
            success=success,
            score=1.0 if success else 0.0,
            steps=n,
            input_tokens=TOKENS_IN * n,
            output_tokens=TOKENS_OUT * n,
            cost_usd=0.001 * n,
            retrieval_latencies_s=[0.001 * (i + 1) for i in range(n)],
            stop_reason="done" if success else "max_steps",
            trajectory=traj,
        )


def fake_factory() -> FakeEpisode:
    """A module-level WorkerFactory (picklable) for the process-pool test."""
    return FakeEpisode()


def main(out: str, n_tasks: int, delay: float) -> None:
    """Subprocess entry: run a slow fake grid (the test kills it mid-run)."""
    cfg = RunConfig(
        env="fake", out=Path(out), strategies=["none", "rag"], index=Path("idx"), workers=2
    )
    from lbi_icl.runner import run_experiment

    run_experiment(
        cfg, tasks=make_tasks(n_tasks), episode_fn=FakeEpisode(delay=delay), show_progress=False
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
