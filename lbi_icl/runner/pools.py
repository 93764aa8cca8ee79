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
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lbi_icl.runner.workers import EpisodeFn, Job, ThreadWorkers, WorkerFactory, execute_job
from lbi_icl.util.lifetime import arm_parent_death_signal

if TYPE_CHECKING:
    from lbi_icl.agent.base import EpisodeResult
    from lbi_icl.runner.config import RunConfig

log = logging.getLogger(__name__)

_PROC_FN: EpisodeFn | None = None
STOP_GRACE_S = 1.0  # how long a stopping run waits for in-flight episodes and env closes

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
    jobs: Iterable[Job],
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


class DaemonThreadPool(cf.Executor):
    """A thread pool whose threads are daemons: one stuck in a call that cannot be
    interrupted (an LLM request waiting on a silent server) does not keep the process
    alive after the run has stopped (`ThreadPoolExecutor` joins its threads at exit)."""

    def __init__(self, max_workers: int, name: str):
        self._queue: queue.SimpleQueue[tuple[cf.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(max_workers)
        ]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            fut, call = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(call())
            except BaseException as e:  # Cancelled, KeyboardInterrupt: the future says so
                fut.set_exception(e)

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> cf.Future[R]:
        fut: cf.Future[R] = cf.Future()
        self._queue.put((fut, functools.partial(fn, *args, **kwargs)))
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for t in self._threads:
                t.join()


def run_threads(
    config: RunConfig,
    factory: WorkerFactory,
    jobs: Iterable[Job],
    run_dir: Path,
    stop: threading.Event,
    record: Callable[[Job, EpisodeResult | None], None],
) -> bool:
    """Run `jobs` on `config.workers` threads; True when stopped early. On Ctrl-C (or a set
    `stop`), in-flight episodes get `STOP_GRACE_S` to reach their next step boundary (an
    LLM back-off ends at once: `lbi_icl.util.cancel`); what has not finished by then is left to
    its daemon thread and rerun on resume. A second Ctrl-C ends the wait at once."""
    workers = ThreadWorkers(factory)

    def work(job: Job) -> EpisodeResult | None:
        if stop.is_set():
            return None
        return execute_job(workers.get(), job, run_dir, config.env, config.policy, stop)

    ex = DaemonThreadPool(config.workers, "lbi-episode")
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
        log.warning("interrupted: in-flight episodes stop at their next step (rerun on resume)")
    except BaseException:
        stop.set()
        ex.shutdown(wait=False)
        _close_soon(workers)
        raise
    if not interrupted:
        ex.shutdown(wait=True)
        workers.close()
        return False
    stop.set()
    ex.shutdown(wait=False)
    deadline = time.monotonic() + STOP_GRACE_S
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: stop waiting
        done, _ = cf.wait(list(in_flight), timeout=STOP_GRACE_S * 2 / 3)
        for fut in done:
            with contextlib.suppress(Exception):
                record(in_flight[fut], fut.result())
    _close_soon(workers, max(0.1, deadline - time.monotonic()))
    return True


def _close_soon(workers: ThreadWorkers, wait_s: float = STOP_GRACE_S) -> None:
    """Close the workers' environments, but never wait on one whose thread is stuck."""
    closer = threading.Thread(target=workers.close, name="lbi-close", daemon=True)
    closer.start()
    with contextlib.suppress(KeyboardInterrupt):
        closer.join(wait_s)
