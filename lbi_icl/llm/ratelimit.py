"""A client-side rate limit shared by every thread that calls one model: requests per
minute (`rpm`) and tokens per minute (`tpm`, prompt + answer tokens).

Starts are paced, not bunched: with `rpm=600` a request may start every 100 ms, so in no
window do more than `rpm` x (window / 60 s) + 1 requests start; tokens are paced the same
way (a request takes its estimated prompt tokens plus `max_tokens` when it starts, and is
settled against the provider's usage when it returns). A 429 pauses every thread: nobody
starts before the server's `Retry-After` (or the back-off delay) has passed, with or
without `rpm` / `tpm`; after it, requests start one at a time at half the rate that met the
429 (once per 429 wave: answers to requests started before the slow-down do not halve it
again), and each success takes 2% off that spacing, until it is gone or the configured
limit rules again.

One limiter per (backend, model, base URL) per process (`shared_limiter`), so the policy
and the query writer of a run count against the same limit. A run whose workers are
separate processes (Ray actors, `--parallel process`) gives each its `share` of the limit.
Waits observe the thread's cancel scope (`lbi_icl.util.cancel`), so Ctrl-C does not sit them out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.llm.errors import LLMConfigError
from lbi_icl.util.cancel import Cancelled, cancelled, wait_or_cancel
from lbi_icl.util.tokenizer import estimate_tokens


class RateLimits(BaseModel):
    """A model's limits, per minute; None = no limit. `share` is this process's part."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    share: float = Field(default=1.0, gt=0, le=1)

    @property
    def active(self) -> bool:
        return self.rpm is not None or self.tpm is not None


class LimiterStats(BaseModel):
    requests: int = 0
    waited_s: float = 0.0  # summed over threads
    pauses: int = 0  # 429s that paused everyone
    slow_downs: int = 0  # times the adaptive spacing was doubled
    tokens: float = 0.0  # settled token count


class RateLimiter:
    """Paces request starts and tokens (see the module docstring). Thread-safe."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._next_req = 0.0  # earliest start of the next request
        self._next_tok = 0.0  # when the token budget allows the next start
        self._paused_until = 0.0
        self._last_start = float("-inf")  # when the latest request actually started
        self._starts: deque[float] = deque(maxlen=100_000)  # recent starts (clock time)
        self._adaptive = 0.0  # spacing learnt from 429s (seconds between starts)
        self._slowed_at = float("-inf")  # when it was last doubled
        self._stats = LimiterStats()
        self.limits = limits
        self.configure(limits)

    def configure(self, limits: RateLimits) -> None:
        with self._lock:
            self.limits = limits
            self._req_gap = 60.0 / (limits.rpm * limits.share) if limits.rpm else 0.0
            self._tok_gap = 60.0 / (limits.tpm * limits.share) if limits.tpm else 0.0

    # -- the three calls of a request ------------------------------------------------------
    def _gap(self) -> float:
        return max(self._req_gap, self._adaptive)

    def acquire(self, tokens: float = 0.0) -> float:
        """Wait for this request's turn (cancel-aware); returns when it started (this
        limiter's clock), which `slow_down` wants back after a 429.

        A turn is reserved at once, so waiting threads wake one at a time, each at its own
        time; a thread that wakes late does not start with the next one on time: starts are
        at least 60/rpm s apart in fact, not only on paper. A pause (429) that began while
        waiting sends the thread to a new turn after it."""
        waited = 0.0
        charge = tokens
        while True:
            if cancelled():
                raise Cancelled
            with self._lock:
                now = self._clock()
                turn = max(now, self._next_req, self._next_tok, self._paused_until)
                self._next_req = turn + self._gap()
                self._next_tok = max(self._next_tok, turn) + charge * self._tok_gap
                self._stats.tokens += charge
                charge = 0.0  # a new turn after a pause is not charged twice
            while True:  # the turn, then the real spacing after the latest start
                if turn > now:
                    wait_or_cancel(turn - now)
                    waited += turn - now
                with self._lock:
                    now = self._clock()
                    if self._paused_until > now:
                        break  # a 429 meanwhile: a new turn after the pause
                    turn = self._last_start + self._gap()
                    if turn <= now:
                        self._last_start = now
                        self._starts.append(now)
                        self._stats.requests += 1
                        self._stats.waited_s += waited
                        return now

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the token pacing once the provider's count is known."""
        if not self._tok_gap or actual == estimated:
            return
        with self._lock:
            now = self._clock()
            self._next_tok = max(now, self._next_tok + (actual - estimated) * self._tok_gap)
            self._stats.tokens += actual - estimated

    def pause(self, seconds: float) -> None:
        """A 429: no request starts for `seconds` (the server's Retry-After)."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._next_req = max(self._next_req, self._paused_until)
            self._stats.pauses += 1

    def slow_down(self, started: float) -> None:
        """A 429 for a request that started at `started`: halve the rate that met it, once
        per wave (a request started before the last slow-down does not count again)."""
        with self._lock:
            if started < self._slowed_at:
                return
            now = self._clock()
            self._slowed_at = now
            recent, first = 0, now
            for t in reversed(self._starts):
                if t < now - 5.0:
                    break
                recent, first = recent + 1, t
            if recent < 4:
                return  # little traffic says nothing about the rate: the pause is enough
            spacing = max(now - first, 0.05) / recent  # of the starts that met the 429
            self._adaptive = min(5.0, max(2 * self._adaptive, 2 * spacing))
            self._stats.slow_downs += 1

    def succeeded(self) -> None:
        """An answer: the spacing learnt from 429s shrinks by 2%."""
        if self._adaptive:
            with self._lock:
                self._adaptive = 0.0 if self._adaptive < 1e-3 else self._adaptive * 0.98

    def starts(self) -> list[float]:
        """When recent requests started (this limiter's clock), oldest first."""
        with self._lock:
            return list(self._starts)

    def stats(self) -> LimiterStats:
        with self._lock:
            return self._stats.model_copy()


def request_tokens(texts: Iterable[str], max_tokens: int) -> float:
    """What a request takes from the token budget before its usage is known: its prompt's
    texts at the project's one estimate (`util.tokenizer.estimate_tokens`) plus the answer's
    cap."""
    return float(sum(estimate_tokens(t) for t in texts) + max_tokens)


_REGISTRY: dict[tuple[str, str, str], RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def shared_limiter(
    backend: str, model: str, base_url: str | None, limits: RateLimits
) -> RateLimiter:
    """The process's limiter of this model, made or reconfigured with `limits` (the latest
    LLM object made wins). Without limits it still paces nothing but shares a 429's pause
    with every thread of the model."""
    key = (backend, model, base_url or "")
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = _REGISTRY[key] = RateLimiter(limits)
        elif limiter.limits != limits:
            limiter.configure(limits)
        return limiter


def check_limits(rpm: float | None, tpm: float | None, share: float) -> RateLimits:
    """`RateLimits`, or an `LLMConfigError` naming the bad value."""
    for name, value in (("rpm", rpm), ("tpm", tpm)):
        if value is not None and value <= 0:
            raise LLMConfigError(f"{name} must be > 0, got {value}")
    if not 0 < share <= 1:
        raise LLMConfigError(f"rate_share must be in (0, 1], got {share}")
    return RateLimits(rpm=rpm, tpm=tpm, share=share)
