"""The shared rate limiter: request and token pacing under 64 threads, Retry-After pausing
every thread, one limiter per model, and the share of a worker process."""

from __future__ import annotations

import itertools
import threading
import time
from bisect import bisect_left

import pytest
from llm_servers import AnthropicStubServer, OpenAIStubServer, StubReply, clear_llm_env

from lbi_icl.llm import LLMConfigError, Message, make_llm
from lbi_icl.llm.ratelimit import RateLimiter, RateLimits, shared_limiter
from lbi_icl.util.cancel import Cancelled, cancel_scope

USER = [Message(role="user", content="say hello please")]


@pytest.fixture(autouse=True)
def _no_real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(i - bisect_left(times, t - window) + 1 for i, t in enumerate(times))


def _hammer(n_threads: int, per_thread: int, call) -> list[float]:
    starts: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n_threads)

    def work() -> None:
        barrier.wait()
        for _ in range(per_thread):
            call()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return starts


def test_request_pacing_holds_under_64_threads() -> None:
    limiter = RateLimiter(RateLimits(rpm=12_000))  # 200 starts/s: one every 5 ms
    _hammer(64, 3, limiter.acquire)
    starts = limiter.starts()
    assert len(starts) == 192 == limiter.stats().requests
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.005 - 1e-9  # starts really are 5 ms apart, late wake-ups or not
    assert _max_in_window(starts, 0.25) <= 51


def test_token_pacing_and_settling() -> None:
    limiter = RateLimiter(RateLimits(tpm=60_000))  # 1000 tokens/s
    t0 = time.monotonic()
    limiter.acquire(300)
    limiter.acquire(300)  # waits for the first request's 300 tokens: 0.3 s
    assert time.monotonic() - t0 >= 0.29
    limiter.settle(300, 0)  # the second used nothing after all: its share is returned
    t1 = time.monotonic()
    limiter.acquire(1)
    assert time.monotonic() - t1 < 0.15


def test_pause_holds_every_thread() -> None:
    limiter = RateLimiter(RateLimits(rpm=60_000))
    limiter.acquire()
    limiter.pause(0.4)
    t0 = time.monotonic()
    starts = _hammer(16, 1, limiter.acquire)
    assert min(starts) - t0 >= 0.39
    assert limiter.stats().pauses == 1


def test_a_waiting_thread_is_cancelled_at_once() -> None:
    limiter = RateLimiter(RateLimits(rpm=1))  # one request a minute
    limiter.acquire()
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    t0 = time.monotonic()
    with cancel_scope(stop), pytest.raises(Cancelled):
        limiter.acquire()
    assert time.monotonic() - t0 < 5


def test_one_limiter_per_model_and_share() -> None:
    a = shared_limiter("openai", "m-share", None, RateLimits(rpm=100))
    b = shared_limiter("openai", "m-share", None, RateLimits(rpm=100))
    assert a is b and a is not None
    assert shared_limiter("openai", "other", None, RateLimits(rpm=100)) is not a
    unlimited = shared_limiter("openai", "m-share", None, RateLimits())
    assert unlimited is a and a._req_gap == 0  # still there, for a 429's pause
    c = shared_limiter("openai", "m-share", None, RateLimits(rpm=100, share=0.25))
    assert c is a and a._req_gap == pytest.approx(60 / 25)
    with pytest.raises(LLMConfigError, match="rpm must be > 0"):
        make_llm("openai:gpt-4o", base_url="http://127.0.0.1:9/v1", rpm=0)


@pytest.mark.parametrize("server", [OpenAIStubServer, AnthropicStubServer])
def test_llm_requests_never_exceed_rpm_under_64_threads(server) -> None:
    """64 threads share one LLM: the server sees at most the limit, whatever the threads."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def reply(body: dict) -> str:
        with lock:
            arrivals.append(time.monotonic())
        return "ok"

    with server(reply) as srv:
        llm = make_llm(
            "openai:gpt-4o-mini" if server is OpenAIStubServer else "anthropic:claude-3-haiku",
            base_url=srv.base_url,
            rpm=6_000,
            max_concurrency=64,
        )  # 100/s
        _hammer(64, 2, lambda: llm.complete(USER))
    assert len(arrivals) == 128
    starts = llm.limiter.starts()  # type: ignore[attr-defined]
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.01 - 1e-9
    # what the server saw: the limit over the run (arrivals also carry the client's and
    # the loopback's jitter, which a loaded machine makes tens of ms)
    assert max(arrivals) - min(arrivals) >= 127 * 0.01 * 0.9
    assert _max_in_window(arrivals, 1.0) <= 100 + 15


@pytest.mark.parametrize("rpm", [None, 60_000])
def test_retry_after_pauses_every_thread(rpm: float | None) -> None:
    """A 429 with Retry-After: 1 stops all threads' requests for that second, with or
    without a configured limit."""
    arrivals: list[tuple[float, int]] = []
    lock = threading.Lock()
    served = [0]

    def reply(body: dict) -> StubReply | str:
        with lock:
            served[0] += 1
            n = served[0]
            arrivals.append((time.monotonic(), n))
        if n == 1:
            return StubReply(status=429, headers={"Retry-After": "1"})
        return "ok"

    with OpenAIStubServer(reply) as srv:
        llm = make_llm(
            "openai:gpt-4o-mini",
            base_url=srv.base_url,
            rpm=rpm,
            max_concurrency=8,
            backoff_base_s=0.01,
            backoff_max_s=5,
        )
        llm.complete(USER)  # the 429 then its retry
        t429 = arrivals[0][0]
        _hammer(8, 1, lambda: llm.complete([Message(role="user", content="other")]))
    later = [t for t, n in arrivals if n > 1]
    assert min(later) - t429 >= 0.95
    assert llm.limiter.stats().pauses == 1  # type: ignore[attr-defined]


def test_slow_down_halves_the_rate_once_per_wave() -> None:
    limiter = RateLimiter(RateLimits())
    first = limiter.acquire()
    for _ in range(49):
        limiter.acquire()  # 50 starts within a moment
    time.sleep(0.5)
    limiter.slow_down(first)
    gap = limiter._adaptive
    assert 2 * 0.5 / 50 <= gap <= 2 * 0.8 / 50  # twice the spacing of the starts that met it
    limiter.slow_down(first)  # the same wave (started before the slow-down): no change
    assert limiter._adaptive == gap
    limiter.succeeded()
    assert limiter._adaptive == pytest.approx(0.98 * gap)
    assert limiter.stats().slow_downs == 1


def test_no_client_limit_against_a_provider_that_enforces_one() -> None:
    """16 threads, no --rpm, a server allowing 1200 rpm with Retry-After: 429s slow every
    thread down instead of exhausting their retries."""
    lock = threading.Lock()
    state = {"tat": 0.0, "429": 0}

    def reply(body: dict) -> StubReply | str:
        gap = 60 / 1200
        with lock:
            now = time.monotonic()
            if now < state["tat"] - gap:
                state["429"] += 1
                return StubReply(status=429, headers={"Retry-After": "1"})
            state["tat"] = max(state["tat"], now) + gap
        return "ok"

    with OpenAIStubServer(reply) as srv:
        llm = make_llm(
            "openai:gpt-4o-mini",
            base_url=srv.base_url,
            max_concurrency=16,
            backoff_base_s=0.05,
            backoff_max_s=2,
            max_retries=3,
        )
        _hammer(16, 6, lambda: llm.complete(USER))  # raises (fails the test) on a give-up
    assert state["429"] >= 1
    assert llm.limiter.stats().slow_downs >= 1  # type: ignore[attr-defined]
