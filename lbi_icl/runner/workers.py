"""What runs one episode: the job record, the worker protocol, the real worker (env, policy
and retrievers per worker; index and LLMs shared per process) and `execute_job`, which
streams an episode's step log and turns its exception into an error record.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lbi_icl.agent.base import EpisodeResult, StepLog
from lbi_icl.data import Task
from lbi_icl.data.jsonl import JsonlAppender
from lbi_icl.runner.config import RunConfig
from lbi_icl.runner.results import EpisodeSpec, steps_path
from lbi_icl.util.cancel import Cancelled, cancel_scope
from lbi_icl.util.scrub import scrub_text
from lbi_icl.util.status import status

log = logging.getLogger(__name__)

# strategies that never embed a query (everything else loads the embedder before episodes)
BM25_ONLY = frozenset({"none", "observation"})

OnStep = Callable[[StepLog], None]


class EpisodeFn(Protocol):
    """Runs one episode. Called from one worker thread/process at a time."""

    def __call__(self, task: Task, strategy: str, seed: int, on_step: OnStep) -> EpisodeResult: ...


WorkerFactory = Callable[[], EpisodeFn]


class EpisodeInterrupted(Exception):
    """Raised from on_step to stop an episode at a step boundary after Ctrl-C."""


@dataclass
class Job:
    task: Task
    strategy: str
    seed: int

    @property
    def key(self) -> str:
        return EpisodeSpec(strategy=self.strategy, task_id=self.task.id, seed=self.seed).key


def error_result(
    job: Job, env_name: str, policy: str, error: str, steps: int = 0, duration_s: float = 0.0
) -> EpisodeResult:
    """The record of an episode that ended in `error` (an exception in the episode, or a
    worker that could not run it)."""
    return EpisodeResult(
        task_id=job.task.id,
        env=env_name,
        strategy=job.strategy,
        policy=policy,
        seed=job.seed,
        success=False,
        steps=steps,
        duration_s=duration_s,
        stop_reason="error",
        error=error,
    )


def execute_job(
    fn: EpisodeFn,
    job: Job,
    run_dir: Path,
    env_name: str,
    policy: str,
    stop: threading.Event | None,
) -> EpisodeResult | None:
    """Run one job, streaming its step log; None when it was interrupted (not recorded)."""
    path = run_dir / steps_path(job.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a rerun replaces a partial log from a crash
    steps = 0
    interrupted = False
    t0 = time.monotonic()
    with JsonlAppender(path) as appender:

        def on_step(step: StepLog) -> None:
            nonlocal steps, interrupted
            if step.error:
                step.error = scrub_text(step.error)
            appender.write(step)
            steps += 1
            if stop is not None and stop.is_set():
                interrupted = True
                raise EpisodeInterrupted

        try:
            with cancel_scope(stop):
                result = fn(job.task, job.strategy, job.seed, on_step)
        except (EpisodeInterrupted, Cancelled):
            return None
        except Exception as e:
            if interrupted:
                return None
            log.warning("episode %s failed: %s", job.key, e)
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            result = error_result(job, env_name, policy, tb, steps, time.monotonic() - t0)
    if interrupted:
        return None
    return result


class ThreadWorkers:
    """One EpisodeFn per worker thread (envs, policies and retrievers are stateful)."""

    def __init__(self, factory: WorkerFactory):
        self._factory = factory
        self._local = threading.local()
        self._made: list[EpisodeFn] = []
        self._lock = threading.Lock()

    def get(self) -> EpisodeFn:
        fn = getattr(self._local, "fn", None)
        if fn is None:
            fn = self._factory()
            self._local.fn = fn
            with self._lock:
                self._made.append(fn)
        return fn

    def close(self) -> None:
        for fn in self._made:
            close = getattr(fn, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()


class RealWorkerFactory:
    """Builds the real pieces: env per worker, shared index and LLM per process.

    Picklable (only the config travels), so the same factory serves the process pool.
    """

    def __init__(self, config: RunConfig):
        self.config = config
        self._shared: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]

    def shared(self) -> dict[str, Any]:
        with self._lock:
            if self._shared is None:
                self._shared = _load_shared(self.config)
            return self._shared

    def __call__(self) -> EpisodeFn:
        return _RealWorker(self.config, self.shared())


def _load_shared(config: RunConfig) -> dict[str, Any]:
    index = None
    if any(s != "none" for s in config.strategies):
        from lbi_icl.index import load_index

        assert config.index is not None
        with status(f"loading the index {config.index}…"):
            index = load_index(config.index, embedder=_query_embedder(config.query_embedder))
            index.check_vectors()  # damage is an error before the first episode, not a hit
        if any(s not in BM25_ONLY for s in config.strategies):
            # the embedder loads now, under a status line, not inside the first episode
            # while the progress bar stands still
            spec = config.query_embedder or index.manifest.embedder.id
            with status(f"loading the embedder {spec}…"):
                index.embed_query("warm up")
    llm = _make_llm(config, config.llm) if config.policy == "llm" else None
    writer = config.query_writer_spec()
    qllm = llm if writer == config.llm and llm is not None else _make_llm(config, writer)
    return {"index": index, "llm": llm, "query_llm": qllm}


def _query_embedder(spec: str | None) -> Any:
    """The `query_embedder` override, or None for the index's own embedder."""
    if not spec:
        return None
    from lbi_icl.embed import load_embedder

    return load_embedder(spec)


def _make_llm(config: RunConfig, spec: str | None) -> Any:
    """The run's LLM in this process: requests in flight follow `workers` (each worker has
    at most one call out); the rate limit is split over the processes that run workers."""
    if not spec:
        return None
    from lbi_icl.llm import make_llm

    separate = config.executor == "ray" or config.parallel == "process"
    return make_llm(
        spec,
        cache_path=config.cache_path(),
        cache_mode=config.llm_cache_mode,
        base_url=config.llm_base_url,
        max_concurrency=config.workers,
        cache_prompt=config.llm_cache_prompt,
        rpm=config.llm_rpm,
        tpm=config.llm_tpm,
        rate_share=1 / config.workers if separate else 1.0,
    )


class _RealWorker:
    def __init__(self, config: RunConfig, shared: dict[str, Any]):
        from lbi_icl.agent import make_policy
        from lbi_icl.envs.base import EnvError
        from lbi_icl.envs.run_guard import env_for_run

        self.config = config
        self.shared = shared
        self.env = env_for_run(config.env, config.env_options, step_timeout_s=config.step_timeout_s)
        # an env's own use of the run's settings (web: screenshots in RUN/screens, the
        # run's --llm as WebArena's answer judge); guarded envs may not have it
        bind = None
        with contextlib.suppress(AttributeError, EnvError):
            bind = getattr(self.env, "bind_run", None)
        if callable(bind):
            bind(config)
        self.policy = make_policy(config.policy, llm=shared["llm"], seed=config.seed)
        self.prompts = config.prompt_set()
        self.retrievers: dict[str, Any] = {}

    def _retriever(self, strategy: str) -> Any:
        if strategy not in self.retrievers:
            from lbi_icl.retrieval import make_retriever

            rcfg = None
            if self.config.retrieval:
                from lbi_icl.retrieval import RetrievalConfig

                rcfg = RetrievalConfig(**self.config.retrieval)
            index = self.shared["index"] if strategy != "none" else None
            self.retrievers[strategy] = make_retriever(strategy, index, rcfg, self.prompts)
        return self.retrievers[strategy]

    def __call__(self, task: Task, strategy: str, seed: int, on_step: OnStep) -> EpisodeResult:
        from lbi_icl.agent import run_episode

        return run_episode(
            self.env,
            task,
            self.policy,
            self._retriever(strategy),
            config=self.config.agent,
            seed=seed,
            retrieval_llm=self.shared["query_llm"],
            on_step=on_step,
            prompts=self.prompts,
        )

    def close(self) -> None:
        self.env.close()
