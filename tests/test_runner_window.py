"""The windowed scheduler: a stop takes effect within one job per worker, however fast the
jobs fail (the fail-fast race that let 12 of 12 erroring episodes run before stopping)."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import pytest

from lbi_icl.runner.pools import completed_in_window


def _instant(job: int) -> int:
    return job


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_stop_after_third_result_submits_at_most_one_more_per_worker(workers: int) -> None:
    stop = threading.Event()
    in_flight: dict[cf.Future[int], int] = {}
    submitted: list[int] = []

    def job_fn(job: int) -> int:
        submitted.append(job)
        return job

    seen: list[int] = []
    with cf.ThreadPoolExecutor(max_workers=workers) as ex:
        for _job, fut in completed_in_window(ex, job_fn, range(100), workers, stop, in_flight):
            seen.append(fut.result())
            if len(seen) == 3:
                stop.set()
    # every submitted job is yielded (none is lost), and nothing is submitted after the stop
    # beyond the jobs already in the window
    assert sorted(seen) == sorted(submitted)
    assert 3 <= len(submitted) <= 3 + workers - 1
    assert not in_flight


def test_runs_every_job_once_without_a_stop() -> None:
    in_flight: dict[cf.Future[int], int] = {}
    with cf.ThreadPoolExecutor(max_workers=3) as ex:
        pairs = list(completed_in_window(ex, _instant, range(50), 3, threading.Event(), in_flight))
    assert sorted(j for j, _ in pairs) == list(range(50))
    assert all(f.result() == j for j, f in pairs)


def test_breaking_out_leaves_unyielded_jobs_in_the_callers_dict() -> None:
    gate = threading.Event()
    in_flight: dict[cf.Future[int], int] = {}

    def slow_unless_zero(job: int) -> int:
        if job:
            gate.wait(5)
        return job

    with cf.ThreadPoolExecutor(max_workers=2) as ex:
        for job, _ in completed_in_window(
            ex, slow_unless_zero, range(10), 2, threading.Event(), in_flight
        ):
            assert job == 0
            break
        assert list(in_flight.values()) == [1]  # still running: the caller can still record it
        gate.set()


def test_process_pool_with_a_module_level_function() -> None:
    in_flight: dict[cf.Future[int], int] = {}
    ctx = __import__("multiprocessing").get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
        got = [
            f.result()
            for _, f in completed_in_window(ex, abs, [-1, -2, -3], 2, threading.Event(), in_flight)
        ]
    assert sorted(got) == [1, 2, 3]
