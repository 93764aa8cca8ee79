"""Meters the query-writing LLM inside an episode: calls, tokens, cost and seconds, taken
per step by the loop (`MeteredLLM.take`); the episode's sums are `recorder.EpisodeTotals`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from lbi_icl.llm.base import LLM, GenerationParams, LLMResponse, Message


@dataclass
class Meter:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: bool = False
    cached_calls: int = 0
    calls: int = 0
    seconds: float = 0.0
    cache_read_tokens: int = 0  # prompt tokens read from the provider's prompt cache
    cache_write_tokens: int = 0


class MeteredLLM:
    """Wraps the query-writing LLM so the loop can count its tokens, cost and time."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.spec = inner.spec
        self._lock = threading.Lock()
        self._meter = Meter()

    def complete(
        self, messages: list[Message], params: GenerationParams | None = None
    ) -> LLMResponse:
        start = time.perf_counter()
        resp = self.inner.complete(messages, params)
        elapsed = time.perf_counter() - start
        with self._lock:
            m = self._meter
            m.calls += 1
            m.input_tokens += resp.usage.input_tokens
            m.output_tokens += resp.usage.output_tokens
            m.cached_calls += int(resp.cached)
            m.seconds += elapsed
            m.cache_read_tokens += resp.usage.cache_read_tokens
            m.cache_write_tokens += resp.usage.cache_write_tokens
            if resp.cost_usd is None:
                m.cost_unknown = True
            else:
                m.cost_usd += resp.cost_usd
        return resp

    def take(self) -> Meter:
        with self._lock:
            meter, self._meter = self._meter, Meter()
        return meter

    def __getattr__(self, name: str) -> Any:  # anything else a retriever may read
        return getattr(self.inner, name)
