"""Thread-safe usage accounting: per call (`LLMResponse`) and in aggregate (`UsageTotals`).

Cache hits are counted as hits and add no tokens or cost: the run did not pay for them.
Costs sum None-aware: an uncached call with an unknown price makes the total cost None
(never a silently low number), while `known_cost_usd` keeps the sum of the priced part.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, Field, computed_field

from lbi_icl.llm.base import LLMResponse


class UsageRow(BaseModel):
    """Aggregate usage for one model (or for everything)."""

    calls: int = 0  # every complete() that returned, cache hits included
    api_calls: int = 0  # calls that reached a backend (not served from cache)
    cache_hits: int = 0
    offline_calls: int = 0  # scripted / offline answers
    retries: int = 0
    errors: int = 0  # calls that raised (auth, rejected, retries exhausted, cache miss)
    input_tokens: int = 0  # uncached calls only (every prompt token)
    output_tokens: int = 0
    cache_read_tokens: int = 0  # prompt tokens the provider read from its prompt cache
    cache_write_tokens: int = 0  # prompt tokens written to it
    known_cost_usd: float = 0.0  # sum over uncached calls with a known price
    unpriced_calls: int = 0  # uncached, non-offline calls whose model has no known price
    latency_s: float = 0.0  # summed wall time of all calls

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float | None:
        """Total cost, or None when some uncached call's price is unknown."""
        return None if self.unpriced_calls else self.known_cost_usd

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mean_latency_s(self) -> float:
        return self.latency_s / self.calls if self.calls else 0.0

    def _add(self, resp: LLMResponse) -> None:
        self.calls += 1
        self.latency_s += resp.latency_s
        self.retries += resp.retries
        if resp.offline:
            self.offline_calls += 1
        if resp.cached:
            self.cache_hits += 1
            return
        self.api_calls += 1
        self.input_tokens += resp.usage.input_tokens
        self.output_tokens += resp.usage.output_tokens
        self.cache_read_tokens += resp.usage.cache_read_tokens
        self.cache_write_tokens += resp.usage.cache_write_tokens
        if resp.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.known_cost_usd += resp.cost_usd


class UsageSnapshot(UsageRow):
    """A consistent copy of the totals, with a breakdown by 'backend:model'."""

    by_model: dict[str, UsageRow] = Field(default_factory=dict)


class UsageTotals:
    """Aggregate of many responses; `add` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = UsageRow()
        self._by_model: dict[str, UsageRow] = {}

    def add(self, resp: LLMResponse) -> None:
        key = f"{resp.backend}:{resp.model}"
        with self._lock:
            self._total._add(resp)
            self._by_model.setdefault(key, UsageRow())._add(resp)

    def add_error(self, backend: str, model: str) -> None:
        """Count a call that raised instead of returning a response."""
        with self._lock:
            self._total.errors += 1
            self._by_model.setdefault(f"{backend}:{model}", UsageRow()).errors += 1

    def snapshot(self) -> UsageSnapshot:
        with self._lock:
            return UsageSnapshot(
                **self._total.model_dump(exclude={"cost_usd", "mean_latency_s"}),
                by_model={k: v.model_copy() for k, v in self._by_model.items()},
            )

    def reset(self) -> None:
        with self._lock:
            self._total = UsageRow()
            self._by_model = {}
