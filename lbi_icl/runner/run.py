"""Run an experiment grid (tasks x seeds x strategies) into a resumable run directory.

Planning (`plan.py`) picks tasks and jobs; workers (`workers.py`) run episodes on a pool
(`pools.py`: threads by default, processes for environments that need their own;
`pools_ray.py`: Ray actors, `--executor ray`); only the
main thread appends to episodes.jsonl, one flushed line per finished episode, so a crash
loses at most the episodes in flight. Rerunning the same command skips
finished episodes; `retry_errors` reruns the errored ones. Ctrl-C stops scheduling, lets
in-flight episodes stop at their next step boundary (their partial logs are discarded and
they rerun on resume) and records the run as interrupted. A budget (`max_cost_usd`,
`max_tokens`: `budget.py`) stops the start of new episodes once the run has spent it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel, Field

from lbi_icl.agent.base import EpisodeResult
from lbi_icl.data import Task
from lbi_icl.data.jsonl import JsonlAppender, atomic_write_text
from lbi_icl.runner.budget import Budget
from lbi_icl.runner.config import ConfigError, RunConfig, check_config
from lbi_icl.runner.manifest import end_session, now_iso, start_session, write_manifest
from lbi_icl.runner.plan import (
    check_resume,
    list_tasks,
    plan_jobs,
    select_tasks,
)
from lbi_icl.runner.pools import run_processes, run_threads
from lbi_icl.runner.precheck import FailFast, check_llm, recover_run_dir
from lbi_icl.runner.progress import EpisodeProgress as _Progress
from lbi_icl.runner.report_data import protocol_mismatch
from lbi_icl.runner.results import is_finished, steps_path, trajectory_path
from lbi_icl.runner.runlog import (
    EPISODES,
    EpisodeRecord,
    NewerFormatError,
    latest_records,
    read_manifest,
)
from lbi_icl.runner.workers import EpisodeFn, Job, RealWorkerFactory, WorkerFactory
from lbi_icl.util.locks import hold
from lbi_icl.util.scrub import scrub_text

log = logging.getLogger(__name__)


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
    budget: str | None = None  # why it stopped at its budget (--max-cost / --max-tokens)
    duration_s: float = 0.0
    by_strategy: dict[str, dict[str, int]] = Field(default_factory=dict)


def run_experiment(
    config: RunConfig,
    *,
    tasks: list[Task] | None = None,
    worker_factory: WorkerFactory | None = None,
    episode_fn: EpisodeFn | None = None,
    show_progress: bool | None = None,
    stop_event: threading.Event | None = None,
    on_plan: Callable[[int, int, int], None] | None = None,
) -> RunSummary:
    """Run (or resume) `config` into `config.out`.

    `tasks` (the split's task list), `worker_factory` (one EpisodeFn per worker) and
    `episode_fn` (one shared, thread-safe EpisodeFn) replace the real environment, policy
    and retriever, for tests and for custom harnesses. `on_plan(tasks, episodes, done)` is
    told the size of the run before the first episode (the CLI prints it).
    """
    run_dir = Path(config.out)
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir}: exists and is not a directory")
    with hold(run_dir):
        return _run_locked(
            config, tasks, worker_factory, episode_fn, show_progress, stop_event, on_plan
        )


def _run_locked(
    config: RunConfig,
    tasks: list[Task] | None,
    worker_factory: WorkerFactory | None,
    episode_fn: EpisodeFn | None,
    show_progress: bool | None,
    stop_event: threading.Event | None,
    on_plan: Callable[[int, int, int], None] | None = None,
) -> RunSummary:
    t_start = time.monotonic()
    run_dir = Path(config.out)
    try:
        previous = read_manifest(run_dir)
    except NewerFormatError as e:  # never appended to: this lbi_icl would misread it
        raise ConfigError(f"{e}; cannot resume it") from e
    except ValueError as e:  # truncated / empty: nothing says what the episodes ran under
        raise ConfigError(f"{e}; use a new --out, or move {run_dir} away to start over") from e
    check_config(config)  # what the config alone can get wrong: templates, options, prices
    check_resume(config, previous)
    recover_run_dir(run_dir, previous)

    if episode_fn is not None:
        fn = episode_fn
        factory: WorkerFactory = lambda: fn  # noqa: E731
    else:
        factory = worker_factory or RealWorkerFactory(config)
    available, notes = (tasks, []) if tasks is not None else list_tasks(config)
    if previous is not None and tasks is None:  # no run mixes evaluation protocols
        now = {"env": {"notes": notes}, "config": {"env": config.env}}
        why = protocol_mismatch(previous, now)
        if why is not None:
            raise ConfigError(f"{run_dir}: cannot resume: {why}; use a new --out")
    selected = select_tasks(config, available)
    jobs = plan_jobs(config, selected)

    try:
        done = latest_records(run_dir)
    except NewerFormatError as e:
        raise ConfigError(f"{e}; cannot resume it") from e
    todo = []
    for job in jobs:
        rec = done.get(job.key)
        if rec is None or (config.retry_errors and not is_finished(rec)):
            todo.append(job)
    skipped = len(jobs) - len(todo)
    if on_plan is not None:
        on_plan(len(selected), len(jobs), skipped)

    budget = Budget.for_run(config, run_dir)
    if isinstance(factory, RealWorkerFactory) and todo:
        # Fail before the first episode on an unreachable LLM or a bad index.
        for spec in {config.llm if config.policy == "llm" else None, config.query_writer_spec()}:
            check_llm(spec, config.llm_base_url, cache_mode=config.llm_cache_mode)
        if config.parallel == "thread" and config.executor == "local":
            factory.shared()
        elif config.index is not None and any(s != "none" for s in config.strategies):
            from lbi_icl.index import load_index

            idx = load_index(config.index)
            idx.check_vectors()  # damage is an error before the first episode, not a hit
            idx.close()

    if config.executor == "ray" and todo:
        from lbi_icl.cluster.session import import_ray

        import_ray(loopback=not (config.ray_address or os.environ.get("RAY_ADDRESS")))
    run_dir.mkdir(parents=True, exist_ok=True)
    env_info = {"name": config.env, "split": config.split, "tasks_selected": len(selected)}
    if notes:
        env_info["notes"] = notes
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

        def record(job: Job, result: EpisodeResult | None) -> None:
            nonlocal ran
            if result is None:
                return
            _write_record(run_dir, appender, job, result)
            budget.add(result)
            ran += 1
            progress.advance(result.success)
            if fail_fast.observe(result.stop_reason, result.error):
                log.error("stopping: %s", fail_fast.aborted)
                stop.set()

        gated = budget.gate(todo)  # no new episode once the budget is spent
        if config.executor == "ray" and todo:
            from lbi_icl.runner.pools_ray import run_ray

            interrupted = run_ray(config, factory, gated, run_dir, record, stop)
        elif config.parallel == "process" and todo:
            interrupted = run_processes(config, factory, gated, run_dir, record, stop)
        elif todo:
            interrupted = run_threads(config, factory, gated, run_dir, stop, record)

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
        budget=budget.stop.message() if budget.stop and not interrupted else None,
        duration_s=time.monotonic() - t_start,
        by_strategy=_by_strategy(grid),
    )
    status = "aborted" if summary.aborted else "interrupted" if interrupted else "complete"
    counts: dict[str, object] = {"ran": ran, "skipped": skipped, "planned": len(jobs)}
    if summary.budget and not summary.aborted:
        status = "budget"
        counts["stopped"] = summary.budget
    if budget.active:
        counts["budget"] = budget.describe()
    end_session(run_dir, manifest, status, counts)
    return summary


def _by_strategy(records: Iterable[EpisodeRecord]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in records:
        d = out.setdefault(r.strategy, {"episodes": 0, "successes": 0, "errors": 0})
        d["episodes"] += 1
        d["successes"] += int(r.success)
        d["errors"] += int(not is_finished(r))
    return out


def _write_record(run_dir: Path, appender: JsonlAppender, job: Job, result: EpisodeResult) -> None:
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
        # the episode's own goal when the env states one (MiniWoB's utterance)
        instruction=result.trajectory.instruction if result.trajectory else job.task.instruction,
        steps_log=steps_path(key),
        trajectory_file=traj_file,
        finished_at=now_iso(),
    )
    line = rec.model_dump(mode="json", exclude={"trajectory"})
    appender.write({"format_version": line.pop("format_version"), **line})  # first, as in steps


def summary_json(summary: RunSummary) -> str:
    return json.dumps(json.loads(summary.model_dump_json()), indent=2)


# re-exported: the names tests and harnesses import from here
__all__ = [
    "EpisodeFn",
    "RealWorkerFactory",
    "RunSummary",
    "WorkerFactory",
    "plan_jobs",
    "run_experiment",
    "select_tasks",
    "summary_json",
]
