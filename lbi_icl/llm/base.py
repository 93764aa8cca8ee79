"""The one small LLM protocol every backend implements, and its value types."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    """Generation settings; part of the response-cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = 0.0
    max_tokens: int = 1024
    stop: tuple[str, ...] | None = None
    seed: int | None = None


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class LLMResponse(BaseModel):
    """What one call returned, and what it cost. `cost_usd` is None when the price is unknown."""

    text: str
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    latency_s: float = 0.0
    cached: bool = False
    model: str
    backend: str
    retries: int = 0  # transient failures retried before this answer
    offline: bool = False  # True for replayed/scripted answers that no real model produced


@runtime_checkable
class LLM(Protocol):
    """Chat messages in, text out. `spec` is e.g. 'openai:gpt-4o' or 'scripted:FILE'."""

    spec: str

    def complete(
        self, messages: list[Message], params: GenerationParams | None = None
    ) -> LLMResponse: ...
