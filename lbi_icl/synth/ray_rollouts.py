"""Where a synthesis's rollouts (stage 2) run: in this process, or on Ray actors
(`lbi synthesize --executor ray`), each owning an environment built from the config.

Tasks are submitted at most `workers` ahead of the one the pipeline is waiting for, and
their rollouts come back in task order, so backward construction, the filters, dedup and the
writes stay in the driver and the dataset is byte for byte the one a local run writes
(every rollout is seeded from (seed, task, explorer), not from the worker). An actor that
dies is replaced and the task retried `MAX_RETRIES` times; after that its rollouts are
skipped as `error: worker died`, like rollouts of a crashing environment.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from lbi_icl.synth.config import SynthConfig
from lbi_icl.synth.explore import Explorer, Rolled
from lbi_icl.synth.rollout import Rollout
from lbi_icl.synth.self_instruct import SynthTask

MAX_RETRIES = 2


@dataclass(frozen=True)
class SynthExecutor:
    kind: Literal["local", "ray"] = "local"
    workers: int = 1
    ray_address: str | None = None


class RolloutActor:
    """One Ray worker of a synthesis: an environment and an `Explorer` over it."""

    def __init__(self, config: SynthConfig):
        from lbi_icl.envs.run_guard import env_for_run

        self.env = env_for_run(config.env, config.env_options, step_timeout_s=config.step_timeout_s)
        self.explorer = Explorer(config, self.env, None)

    def rollouts(self, st: SynthTask) -> list[Rolled]:
        return self.explorer.rollouts(st)

    def close(self) -> None:
        self.env.close()


def task_rollouts(
    tasks: list[SynthTask],
    start: int,
    config: SynthConfig,
    executor: SynthExecutor,
) -> Iterator[tuple[int, SynthTask, list[Rolled] | None]]:
    """(k, task, its rollouts) for tasks[start:], in order; rollouts None means "make them
    in the pipeline" (the local executor)."""
    if executor.kind == "local":
        for k in range(start, len(tasks)):
            yield k, tasks[k], None
        return
    if "llm" in config.explorers:
        raise ValueError(
            "--executor ray runs the expert, noisy_expert, random and coverage explorers; "
            "the llm explorer runs with --executor local"
        )
    yield from _ray_rollouts(tasks, start, config, executor)


def _ray_rollouts(
    tasks: list[SynthTask], start: int, config: SynthConfig, executor: SynthExecutor
) -> Iterator[tuple[int, SynthTask, list[Rolled] | None]]:
    from lbi_icl.cluster.actors import ActorExecutor
    from lbi_icl.cluster.session import env_worker_resources, ray_session

    def gave_up(st: SynthTask, cause: str) -> list[Rolled]:
        why = "error: worker died"
        return [Rolled(x, Rollout(None, why), 0.0) for x in config.explorers]

    n = max(1, executor.workers)
    with ray_session(n, executor.ray_address) as ray:
        cls = ray.remote(RolloutActor).options(max_restarts=0, **env_worker_resources(config.env))
        ex = ActorExecutor(ray, lambda: cls.remote(config), n, MAX_RETRIES, gave_up)
        futures: dict[int, cf.Future[Any]] = {}
        ok = False
        try:
            nxt = start
            for k in range(start, len(tasks)):
                while nxt < len(tasks) and nxt < k + n:
                    futures[nxt] = ex.submit(_rollouts_call, tasks[nxt])
                    nxt += 1
                yield k, tasks[k], futures.pop(k).result()
            ok = True
        finally:
            ex.shutdown(wait=ok)


def _rollouts_call(actor: Any, st: SynthTask) -> Any:
    return actor.rollouts.remote(st)
