"""The worker pools of `run_experiment`: threads (default) and processes
(`--parallel process`), and the windowed scheduler both use.

Jobs are submitted at most `workers` ahead of the recorded results, so a stop (fail-fast,
Ctrl-C) takes effect within one episode per worker instead of after a queue that fast-failing
episodes may already have drained.

Workers die with their parent: each one asks the kernel for SIGKILL when its parent dies
(`prctl(PR_SET_PDEATHSIG)`, Linux) and, as a fallback elsewhere, watches its parent pid from
a daemon thread. When the workers are gone, multiprocessing's resource tracker sees EOF on
its pipe and exits too, so a `kill -9` of `lbi run` leaves no process behind.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lbi_icl.lifetime import arm_parent_death_signal
from lbi_icl.runner.workers import EpisodeFn, Job, ThreadWorkers, WorkerFactory, execute_job

if TYPE_CHECKING:
    from lbi_icl.agent.base import EpisodeResult
    from lbi_icl.runner.config import RunConfig

log = logging.getLogger(__name__)

_PROC_FN: EpisodeFn | None = None

J = TypeVar("J")
R = TypeVar("R")


def completed_in_window(
    ex: cf.Executor,
    fn: Callable[[J], R],
    jobs: Iterable[J],
    window: int,
    stop: threading.Event,
    in_flight: dict[cf.Future[R], J],
) -> Iterator[tuple[J, cf.Future[R]]]:
    """Yield (job, finished future) pairs, keeping at most `window` jobs submitted and
    unrecorded; no new job is submitted once `stop` is set. `in_flight` is the caller's,
    so after breaking out it still holds the submitted jobs not yet yielded."""
    pending = iter(jobs)

    def fill() -> None:
        while len(in_flight) < window and not stop.is_set():
            job = next(pending, None)
            if job is None:
                return
            in_flight[ex.submit(fn, job)] = job

    fill()
    while in_flight:
        done, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
        for fut in done:
            yield in_flight.pop(fut), fut
        fill()


def die_with_parent(parent_pid: int, *, poll_s: float = 0.5) -> None:
    """Make this process exit when `parent_pid` (its parent) dies."""
    arm_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        ev = threading.Event()
        while not ev.wait(poll_s):
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="lbi-parent-watch", daemon=True).start()


def _proc_init(factory: WorkerFactory, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # The parent handles Ctrl-C; children just get terminated.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _PROC_FN
    _PROC_FN = factory()


def _proc_run(job: Job, run_dir: Path, env_name: str, policy: str) -> EpisodeResult | None:
    assert _PROC_FN is not None, "process worker was not initialised"
    return execute_job(_PROC_FN, job, run_dir, env_name, policy, None)


def run_processes(
    config: RunConfig,
    factory: WorkerFactory,
    jobs: list[Job],
    run_dir: Path,
    record: Callable[[Job, EpisodeResult | None], None],
    stop: threading.Event,
) -> bool:
    """Run `jobs` on `config.workers` processes; True when stopped early (Ctrl-C or
    `stop` set by the caller's fail-fast)."""
    ctx = multiprocessing.get_context("spawn")
    ex = cf.ProcessPoolExecutor(
        max_workers=config.workers,
        mp_context=ctx,
        initializer=_proc_init,
        initargs=(factory, os.getpid()),
    )
    submit = functools.partial(
        _proc_run, run_dir=run_dir, env_name=config.env, policy=config.policy
    )  # a partial of a module-level function pickles into the worker; a closure would not
    in_flight: dict[cf.Future[EpisodeResult | None], Job] = {}
    try:
        for job, fut in completed_in_window(ex, submit, jobs, config.workers, stop, in_flight):
            record(job, fut.result())
            if stop.is_set():
                _stop_pool(ex)
                return True
    except KeyboardInterrupt:
        log.warning("interrupted: stopping worker processes; in-flight episodes rerun on resume")
        _stop_pool(ex)
        return True
    ex.shutdown(wait=True)
    return False


def _stop_pool(ex: Any) -> None:
    procs = list(getattr(ex, "_processes", {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.terminate()


def run_threads(
    config: RunConfig,
    factory: WorkerFactory,
    jobs: list[Job],
    run_dir: Path,
    stop: threading.Event,
    record: Callable[[Job, EpisodeResult | None], None],
) -> bool:
    workers = ThreadWorkers(factory)

    def work(job: Job) -> EpisodeResult | None:
        if stop.is_set():
            return None
        return execute_job(workers.get(), job, run_dir, config.env, config.policy, stop)

    ex = cf.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="lbi-episode")
    in_flight: dict[cf.Future[EpisodeResult | None], Job] = {}
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
