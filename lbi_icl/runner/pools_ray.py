"""The Ray pool of `run_experiment` (`--executor ray`): one actor per worker, each owning an
environment, a policy and retrievers built by the run's worker factory (so the index is
loaded once per actor), fed by the same windowed scheduler as the local pools
(`completed_in_window`: at most `workers` episodes submitted ahead of the recorded results).

Actors write nothing into the run directory: an episode's step log travels back with its
result and the driver writes both, so the run lock, resume, fail-fast and reports behave as
with the local executor, and the actors may live on other machines (their `--index` path
must exist there). An actor that dies mid-episode is replaced and the episode retried, at
most `MAX_RETRIES` times; after that the episode is recorded as an error naming the cause.
An actor whose set-up fails (environment not installed on that machine) is not retried:
the episode's error says so, the same way for every episode, so fail-fast stops the run.
Each episode is recorded exactly once.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi_icl.agent.base import EpisodeResult
from lbi_icl.cluster.actors import ActorExecutor
from lbi_icl.cluster.session import env_worker_resources, ray_session
from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.runner.pools import completed_in_window
from lbi_icl.runner.results import steps_path
from lbi_icl.runner.workers import Job, WorkerFactory, error_result, execute_job

if TYPE_CHECKING:
    from lbi_icl.runner.config import RunConfig

log = logging.getLogger(__name__)

MAX_RETRIES = 2  # reruns of an episode whose worker died, before it is recorded as an error

Outcome = tuple[EpisodeResult | None, str]  # (result, its step log as JSONL text)


class EpisodeActor:
    """One Ray worker: builds its EpisodeFn once, then runs episodes one at a time."""

    def __init__(self, factory: WorkerFactory, env_name: str, policy: str):
        self.fn = factory()
        self.env_name = env_name
        self.policy = policy
        self.scratch = Path(tempfile.mkdtemp(prefix="lbi-ray-worker-"))

    def pid(self) -> int:
        return os.getpid()

    def run(self, job: Job) -> Outcome:
        result = execute_job(self.fn, job, self.scratch, self.env_name, self.policy, None)
        log_path = self.scratch / steps_path(job.key)
        text = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
        log_path.unlink(missing_ok=True)
        return result, text

    def close(self) -> None:
        close = getattr(self.fn, "close", None)
        if callable(close):
            close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def run_ray(
    config: RunConfig,
    factory: WorkerFactory,
    jobs: Iterable[Job],
    run_dir: Path,
    record: Callable[[Job, EpisodeResult | None], None],
    stop: threading.Event,
) -> bool:
    """Run `jobs` on `config.workers` Ray actors; True when stopped early (Ctrl-C or
    `stop` set by the caller's fail-fast)."""

    def gave_up(job: Job, cause: str) -> Outcome:
        return error_result(job, config.env, config.policy, cause), ""

    with ray_session(config.workers, config.ray_address) as ray:
        options = env_worker_resources(config.env)
        actor_cls = ray.remote(EpisodeActor).options(max_restarts=0, **options)

        def make_actor() -> Any:
            return actor_cls.remote(factory, config.env, config.policy)

        ex = ActorExecutor(ray, make_actor, config.workers, MAX_RETRIES, gave_up)
        call = _run_call
        in_flight: dict[cf.Future[Outcome], Job] = {}
        try:
            for job, fut in completed_in_window(ex, call, jobs, config.workers, stop, in_flight):
                result, steps = fut.result()
                if result is not None:
                    atomic_write_text(run_dir / steps_path(job.key), steps)
                record(job, result)
                if stop.is_set():
                    ex.shutdown(wait=False)
                    return True
        except KeyboardInterrupt:
            log.warning("interrupted: stopping Ray workers; in-flight episodes rerun on resume")
            ex.shutdown(wait=False)
            return True
        except BaseException:
            ex.shutdown(wait=False)
            raise
        ex.shutdown(wait=True)
        return False


def _run_call(actor: Any, job: Job) -> Any:
    return actor.run.remote(job)
