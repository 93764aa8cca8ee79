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
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi_icl.agent.base import EpisodeResult
from lbi_icl.jsonl import atomic_write_text
from lbi_icl.runner.pools import completed_in_window
from lbi_icl.runner.ray_session import env_worker_resources, ray_session
from lbi_icl.runner.results import steps_path
from lbi_icl.runner.workers import Job, WorkerFactory, execute_job

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


class ActorExecutor(cf.Executor):
    """A `concurrent.futures` face on a fixed set of Ray actors, for `completed_in_window`.

    `submit(call, job)` runs `call(actor, job)` (an ObjectRef) on an idle actor; never more
    jobs than actors are in flight, which the window guarantees. A job whose actor died is
    resubmitted on a fresh actor up to `retries` times; then (or at once when the actor
    could not even be built) its future holds `on_gave_up(job, why)`.
    """

    def __init__(
        self,
        ray: Any,
        make_actor: Callable[[], Any],
        n: int,
        retries: int,
        on_gave_up: Callable[[Any, str], Any],
    ):
        self.ray = ray
        self.make_actor = make_actor
        self.retries = retries
        self.on_gave_up = on_gave_up
        self.idle: list[Any] = [make_actor() for _ in range(n)]
        self.busy: list[Any] = []
        self.lock = threading.Lock()
        self.closed = False

    def actors(self) -> list[Any]:
        with self.lock:
            return [*self.idle, *self.busy]

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        out: cf.Future[Any] = cf.Future()
        out.set_running_or_notify_cancel()
        self._dispatch(fn, args[0], out, 0)
        return out

    def _dispatch(self, call: Callable[[Any, Any], Any], job: Any, out: cf.Future[Any], n: int):
        with self.lock:
            if not self.idle:
                raise RuntimeError("no idle Ray worker: more jobs submitted than workers")
            actor = self.idle.pop()
            self.busy.append(actor)
        ref = call(actor, job)
        ref.future().add_done_callback(lambda f: self._finished(f, actor, call, job, out, n))

    def _finished(self, f: cf.Future[Any], actor: Any, call: Any, job: Any, out: Any, n: int):
        # Runs on Ray's callback thread, where calling Ray (kill, new actors) can deadlock:
        # a dead actor is handled on a thread of its own.
        exc = f.exception()
        if exc is not None and isinstance(exc, _died_errors(self.ray)):
            threading.Thread(
                target=self._replace, args=(exc, actor, call, job, out, n), daemon=True
            ).start()
            return
        with self.lock:
            if actor in self.busy:
                self.busy.remove(actor)
                self.idle.append(actor)
        if exc is None:
            out.set_result(f.result())
        else:
            out.set_exception(exc)

    def _replace(self, exc: BaseException, actor: Any, call: Any, job: Any, out: Any, n: int):
        try:
            with self.lock:
                if self.closed or actor not in self.busy:
                    return
                self.busy.remove(actor)
            self.ray.kill(actor, no_restart=True)
            fresh = self.make_actor()  # its replacement takes the slot
            with self.lock:
                self.idle.append(fresh)
            if getattr(exc, "actor_init_failed", False):  # the worker cannot be built here:
                out.set_result(self.on_gave_up(job, f"Ray worker failed to start: {_cause(exc)}"))
            elif n < self.retries:
                what = getattr(job, "key", None) or getattr(job, "uid", job)
                log.warning("a Ray worker died on %s; retry %d of %d", what, n + 1, self.retries)
                self._dispatch(call, job, out, n + 1)
            else:
                why = f"Ray worker died {n + 1} times running it: {_cause(exc)}"
                out.set_result(self.on_gave_up(job, why))
        except BaseException as e:  # delivered to the driver waiting on `out`
            if not out.done():
                out.set_exception(e)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self.lock:
            self.closed = True
            actors = [*self.idle, *self.busy]
            self.idle, self.busy = [], []
        if wait:  # a clean end: let each actor close its environment
            refs = [a.close.remote() for a in actors]
            try:
                self.ray.get(refs, timeout=60)
            except Exception as e:
                log.warning("closing Ray workers: %s", e)
        for a in actors:
            self.ray.kill(a, no_restart=True)


def _died_errors(ray: Any) -> tuple[type[BaseException], ...]:
    exc = ray.exceptions
    return (exc.RayActorError, exc.WorkerCrashedError, exc.NodeDiedError)


def _cause(exc: BaseException) -> str:
    """The error's kind, first line and last line (the inner exception of a failed
    `__init__`, or the reason Ray gives for a lost process); no actor ids in between."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Ray colours the actor's name
    lines = [ln.strip() for ln in plain.splitlines() if ln.strip()]
    lines = [re.sub(r"\s*\([^()]*\b(pid|actor_id)=[^()]*\)", "", ln) for ln in lines]
    text = " … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""
    return f"{type(exc).__name__}: {text}"[:400]


def run_ray(
    config: RunConfig,
    factory: WorkerFactory,
    jobs: list[Job],
    run_dir: Path,
    record: Callable[[Job, EpisodeResult | None], None],
    stop: threading.Event,
) -> bool:
    """Run `jobs` on `config.workers` Ray actors; True when stopped early (Ctrl-C or
    `stop` set by the caller's fail-fast)."""

    def gave_up(job: Job, cause: str) -> Outcome:
        result = EpisodeResult(
            task_id=job.task.id,
            env=config.env,
            strategy=job.strategy,
            policy=config.policy,
            seed=job.seed,
            success=False,
            steps=0,
            duration_s=0.0,
            stop_reason="error",
            error=cause,
        )
        return result, ""

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
