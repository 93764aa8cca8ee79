"""Run an experiment grid (tasks x seeds x strategies) into a resumable run directory.

Workers run episodes (threads by default; a process pool for environments that need their
own process); only the main thread appends to episodes.jsonl, one flushed line per finished
episode, so a crash loses at most the episodes in flight. Rerunning the same command skips
finished episodes; `retry_errors` reruns the errored ones. Ctrl-C stops scheduling, lets
in-flight episodes stop at their next step boundary (their partial logs are discarded and
they rerun on resume) and records the run as interrupted.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from lbi_icl.agent.base import EpisodeResult, StepLog
from lbi_icl.data import Task
from lbi_icl.jsonl import JsonlAppender, atomic_write_text
from lbi_icl.locks import hold
from lbi_icl.runner.config import ConfigError, RunConfig
from lbi_icl.runner.manifest import (
    end_session,
    index_hash,
    now_iso,
    read_manifest,
    start_session,
    write_manifest,
)
from lbi_icl.runner.precheck import FailFast, check_llm, recover_run_dir
from lbi_icl.runner.procs import completed_in_window, run_processes
from lbi_icl.runner.progress import EpisodeProgress as _Progress
from lbi_icl.runner.results import (
    EPISODES,
    EpisodeRecord,
    EpisodeSpec,
    is_finished,
    latest_records,
    steps_path,
    trajectory_path,
)
from lbi_icl.scrub import scrub_text

log = logging.getLogger(__name__)

OnStep = Callable[[StepLog], None]


class EpisodeFn(Protocol):
    """Runs one episode. Called from one worker thread/process at a time."""

    def __call__(self, task: Task, strategy: str, seed: int, on_step: OnStep) -> EpisodeResult: ...


WorkerFactory = Callable[[], EpisodeFn]


class RunSummary(BaseModel):
    """What `run_experiment` did, and the run's totals (latest record per episode)."""

    out: Path
    planned: int  # episodes in the grid
    skipped: int  # already finished before this session
    ran: int  # episodes recorded in this session
    errors: int  # latest records that ended in an error
    episodes: int  # episodes with a record
    successes: int
    interrupted: bool = False
    aborted: str | None = None  # why the run stopped early (FailFast), if it did
    duration_s: float = 0.0
    by_strategy: dict[str, dict[str, int]] = Field(default_factory=dict)


class _Interrupted(Exception):
    """Raised from on_step to stop an episode at a step boundary after Ctrl-C."""


@dataclass
class _Job:
    task: Task
    strategy: str
    seed: int

    @property
    def key(self) -> str:
        return EpisodeSpec(strategy=self.strategy, task_id=self.task.id, seed=self.seed).key


# ---------------------------------------------------------------------------- workers
def _execute(
    fn: EpisodeFn,
    job: _Job,
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
                raise _Interrupted

        try:
            result = fn(job.task, job.strategy, job.seed, on_step)
        except _Interrupted:
            return None
        except Exception as e:
            if interrupted:
                return None
            log.warning("episode %s failed: %s", job.key, e)
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            result = EpisodeResult(
                task_id=job.task.id,
                env=env_name,
                strategy=job.strategy,
                policy=policy,
                seed=job.seed,
                success=False,
                steps=steps,
                duration_s=time.monotonic() - t0,
                stop_reason="error",
                error=tb,
            )
    if interrupted:
        return None
    return result


class _ThreadWorkers:
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


# ---------------------------------------------------------------------------- the real worker
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
        index = load_index(config.index)
    llm = _make_llm(config, config.llm) if config.policy == "llm" else None
    writer = config.query_writer_spec()
    qllm = llm if writer == config.llm and llm is not None else _make_llm(config, writer)
    return {"index": index, "llm": llm, "query_llm": qllm}


def _make_llm(config: RunConfig, spec: str | None) -> Any:
    if not spec:
        return None
    from lbi_icl.llm import make_llm

    return make_llm(
        spec,
        cache_path=config.cache_path(),
        cache_mode=config.llm_cache_mode,
        base_url=config.llm_base_url,
    )


class _RealWorker:
    def __init__(self, config: RunConfig, shared: dict[str, Any]):
        from lbi_icl.agent import make_policy
        from lbi_icl.envs import make_env

        self.config = config
        self.shared = shared
        self.env = make_env(config.env, **config.env_options)
        self.policy = make_policy(config.policy, llm=shared["llm"], seed=config.seed)
        self.retrievers: dict[str, Any] = {}

    def _retriever(self, strategy: str) -> Any:
        if strategy not in self.retrievers:
            from lbi_icl.retrieval import make_retriever

            rcfg = None
            if self.config.retrieval:
                from lbi_icl.retrieval import RetrievalConfig

                rcfg = RetrievalConfig(**self.config.retrieval)
            index = self.shared["index"] if strategy != "none" else None
            self.retrievers[strategy] = make_retriever(strategy, index, rcfg)
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
        )

    def close(self) -> None:
        self.env.close()


# ---------------------------------------------------------------------------- planning
def select_tasks(config: RunConfig, available: list[Task]) -> list[Task]:
    """The configured tasks, in the split's stable order (task ids keep the given order)."""
    if config.task_ids is not None:
        by_id = {t.id: t for t in available}
        missing = [t for t in config.task_ids if t not in by_id]
        if missing:
            raise ConfigError(
                f"task id(s) not in {config.env} split {config.split!r}: {', '.join(missing[:5])}"
            )
        return [by_id[t] for t in config.task_ids]
    if config.tasks is not None:
        if config.tasks > len(available):
            log.warning(
                "asked for %d tasks, %s split %r has %d",
                config.tasks,
                config.env,
                config.split,
                len(available),
            )
        return available[: config.tasks]
    return available


def plan_jobs(config: RunConfig, tasks: Iterable[Task]) -> list[_Job]:
    """Task-major order, strategies innermost, so paired comparisons fill in together."""
    return [
        _Job(task=t, strategy=s, seed=seed)
        for t in tasks
        for seed in config.seed_list()
        for s in config.strategies
    ]


def _check_retrieval_options(config: RunConfig) -> None:
    from pydantic import ValidationError

    from lbi_icl.retrieval import RetrievalConfig

    try:
        rcfg = RetrievalConfig(**config.retrieval)
    except ValidationError as e:
        errs = "; ".join(
            f"retrieval.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        keys = ", ".join(RetrievalConfig.model_fields)
        raise ConfigError(f"bad retrieval option: {errs} (valid keys: {keys})") from e
    uses = {
        "observation": ("m1",),
        "model": ("m2",),
        "agentic": ("m1", "m2"),
        "instruction": ("k_instruction",),
        "rag": ("rag_max_docs",),
    }
    for strategy in config.strategies:
        for key in uses.get(strategy, ()):
            if getattr(rcfg, key) < 1:
                raise ConfigError(
                    f"retrieval.{key}={getattr(rcfg, key)} leaves strategy {strategy!r} with "
                    "nothing to retrieve; use a value >= 1 or leave the strategy out"
                )


def _list_tasks(config: RunConfig) -> list[Task]:
    from lbi_icl.envs import make_env

    env = make_env(config.env, **config.env_options)
    try:
        # Environments that need outside services (WebArena's sites) say what is missing
        # before the first episode: `check_ready()` raises an EnvError naming the setting.
        check_ready = getattr(env, "check_ready", None)
        if callable(check_ready):
            from lbi_icl.envs.base import EnvError

            try:
                check_ready()
            except EnvError as e:
                raise ConfigError(str(e)) from e
        # Listing a split can cost one reset per task (BabyAI); ask only for what is used.
        if config.tasks is not None and "limit" in inspect.signature(env.tasks).parameters:
            return env.tasks(config.split, limit=config.tasks)  # type: ignore[call-arg]
        return env.tasks(config.split)
    finally:
        env.close()


def _check_resume(config: RunConfig, previous: dict[str, Any] | None) -> None:
    if previous is None:
        return
    old = previous.get("fingerprint") or {}
    new = config.fingerprint()
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if diff:
        raise ConfigError(
            f"{config.out}: this run directory was made with different settings "
            f"({', '.join(diff)}); use a new --out, or the original settings to resume"
        )
    old_hash = previous.get("index_manifest_sha256")
    new_hash = index_hash(config.index)
    if old_hash and new_hash and old_hash != new_hash:
        raise ConfigError(
            f"{config.out}: the index at {config.index} changed since this run started "
            "(manifest hash differs); use a new --out"
        )


# ---------------------------------------------------------------------------- main entry
def run_experiment(
    config: RunConfig,
    *,
    tasks: list[Task] | None = None,
    worker_factory: WorkerFactory | None = None,
    episode_fn: EpisodeFn | None = None,
    show_progress: bool | None = None,
    stop_event: threading.Event | None = None,
) -> RunSummary:
    """Run (or resume) `config` into `config.out`.

    `tasks` (the split's task list), `worker_factory` (one EpisodeFn per worker) and
    `episode_fn` (one shared, thread-safe EpisodeFn) replace the real environment, policy
    and retriever, for tests and for custom harnesses.
    """
    run_dir = Path(config.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir}: exists and is not a directory")
    with hold(run_dir):
        return _run_locked(config, tasks, worker_factory, episode_fn, show_progress, stop_event)


def _run_locked(
    config: RunConfig,
    tasks: list[Task] | None,
    worker_factory: WorkerFactory | None,
    episode_fn: EpisodeFn | None,
    show_progress: bool | None,
    stop_event: threading.Event | None,
) -> RunSummary:
    t_start = time.monotonic()
    run_dir = Path(config.out)
    previous = read_manifest(run_dir)
    _check_resume(config, previous)
    recover_run_dir(run_dir, previous)

    if episode_fn is not None:
        fn = episode_fn
        factory: WorkerFactory = lambda: fn  # noqa: E731
    else:
        factory = worker_factory or RealWorkerFactory(config)
    available = tasks if tasks is not None else _list_tasks(config)
    selected = select_tasks(config, available)
    jobs = plan_jobs(config, selected)

    done = latest_records(run_dir)
    todo = []
    for job in jobs:
        rec = done.get(job.key)
        if rec is None or (config.retry_errors and not is_finished(rec)):
            todo.append(job)
    skipped = len(jobs) - len(todo)

    _check_retrieval_options(config)
    if isinstance(factory, RealWorkerFactory) and todo:
        # Fail before the first episode on an unreachable LLM or a bad index.
        for spec in {config.llm if config.policy == "llm" else None, config.query_writer_spec()}:
            check_llm(spec, config.llm_base_url, cache_mode=config.llm_cache_mode)
        if config.parallel == "thread":
            factory.shared()
        elif config.index is not None and any(s != "none" for s in config.strategies):
            from lbi_icl.index import load_index

            load_index(config.index).close()

    run_dir.mkdir(parents=True, exist_ok=True)
    env_info = {"name": config.env, "split": config.split, "tasks_selected": len(selected)}
    manifest = start_session(config, env_info=env_info, previous=previous)
    write_manifest(run_dir, manifest)
    log.info("%s: %d episodes planned, %d already done", run_dir, len(jobs), skipped)

    stop = stop_event or threading.Event()
    fail_fast = FailFast(config.fail_fast)
    ran = 0
    interrupted = False
    todo_keys = {j.key for j in todo}
    prior = [done[j.key] for j in jobs if j.key in done and j.key not in todo_keys]
    progress = _Progress(
        total=len(jobs),
        done=skipped,
        successes=sum(1 for r in prior if r.success),
        enabled=sys.stderr.isatty() if show_progress is None else show_progress,
    )
    with JsonlAppender(run_dir / EPISODES) as appender, progress:

        def record(job: _Job, result: EpisodeResult | None) -> None:
            nonlocal ran
            if result is None:
                return
            _write_record(run_dir, appender, job, result)
            ran += 1
            progress.advance(result.success)
            if fail_fast.observe(result.stop_reason, result.error):
                log.error("stopping: %s", fail_fast.aborted)
                stop.set()

        if config.parallel == "process" and todo:
            interrupted = run_processes(config, factory, todo, run_dir, record, stop)
        elif todo:
            interrupted = _run_threads(config, factory, todo, run_dir, stop, record)

    latest = latest_records(run_dir)
    keys = {j.key for j in jobs}
    grid = [r for k, r in latest.items() if k in keys]
    summary = RunSummary(
        out=run_dir,
        planned=len(jobs),
        skipped=skipped,
        ran=ran,
        errors=sum(1 for r in grid if not is_finished(r)),
        episodes=len(grid),
        successes=sum(1 for r in grid if r.success),
        interrupted=interrupted and fail_fast.aborted is None,
        aborted=fail_fast.aborted,
        duration_s=time.monotonic() - t_start,
        by_strategy=_by_strategy(grid),
    )
    status = "aborted" if summary.aborted else "interrupted" if interrupted else "complete"
    end_session(run_dir, manifest, status, {"ran": ran, "skipped": skipped, "planned": len(jobs)})
    return summary


def _by_strategy(records: Iterable[EpisodeRecord]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in records:
        d = out.setdefault(r.strategy, {"episodes": 0, "successes": 0, "errors": 0})
        d["episodes"] += 1
        d["successes"] += int(r.success)
        d["errors"] += int(not is_finished(r))
    return out


def _write_record(run_dir: Path, appender: JsonlAppender, job: _Job, result: EpisodeResult) -> None:
    key = job.key
    if (result.task_id, result.strategy, result.seed) != (job.task.id, job.strategy, job.seed):
        log.warning(
            "episode %s returned a result labelled %s/%s/%s; using the job's labels",
            key,
            result.strategy,
            result.task_id,
            result.seed,
        )
    traj_file = None
    if result.trajectory is not None:
        traj_file = trajectory_path(key)
        atomic_write_text(run_dir / traj_file, result.trajectory.model_dump_json() + "\n")
    data = result.model_dump(exclude={"trajectory"})
    data.update(task_id=job.task.id, strategy=job.strategy, seed=job.seed)
    if data.get("error"):
        data["error"] = scrub_text(data["error"])  # an LLM error may quote its URL
    rec = EpisodeRecord(
        **data,
        key=key,
        instruction=job.task.instruction,
        steps_log=steps_path(key),
        trajectory_file=traj_file,
        finished_at=now_iso(),
    )
    appender.write(rec.model_dump(mode="json", exclude={"trajectory"}))


def _run_threads(
    config: RunConfig,
    factory: WorkerFactory,
    jobs: list[_Job],
    run_dir: Path,
    stop: threading.Event,
    record: Callable[[_Job, EpisodeResult | None], None],
) -> bool:
    workers = _ThreadWorkers(factory)

    def work(job: _Job) -> EpisodeResult | None:
        if stop.is_set():
            return None
        return _execute(workers.get(), job, run_dir, config.env, config.policy, stop)

    ex = cf.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="lbi-episode")
    in_flight: dict[cf.Future[EpisodeResult | None], _Job] = {}
    interrupted = False
    try:
        for job, fut in completed_in_window(ex, work, jobs, config.workers, stop, in_flight):
            record(job, fut.result())
            if stop.is_set():
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: finishing in-flight episodes at their next step")
    except BaseException:
        stop.set()
        ex.shutdown(wait=True, cancel_futures=True)
        workers.close()
        raise
    if interrupted:
        stop.set()
        ex.shutdown(wait=False, cancel_futures=True)
        for fut, job in in_flight.items():
            if fut.cancelled():
                continue
            with contextlib.suppress(cf.CancelledError):
                record(job, fut.result())
    ex.shutdown(wait=True)
    workers.close()
    return interrupted


def summary_json(summary: RunSummary) -> str:
    return json.dumps(json.loads(summary.model_dump_json()), indent=2)
