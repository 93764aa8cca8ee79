"""The one small LLM protocol every backend implements, and its value types."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_serializer


class ImagePart(BaseModel):
    """An image sent with a message (a screenshot). Serialized (cache keys, manifests) as
    its media type and sha256: the bytes themselves travel only to the provider."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    media_type: Literal["image/png", "image/jpeg", "image/webp", "image/gif"] = "image/png"
    data: bytes = Field(repr=False)

    @field_serializer("data")
    def _digest(self, data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.b64()}"


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str
    # images after the text (OpenAI: image_url parts, Anthropic: image blocks); backends
    # without image support send the text only. Absent from the serialized form when empty,
    # so text-only messages (and their cache keys) are as before images existed.
    images: tuple[ImagePart, ...] = ()

    @model_serializer(mode="wrap")
    def _drop_empty_images(self, handler: Any) -> Any:
        out = handler(self)
        if not self.images and isinstance(out, dict):
            out.pop("images", None)
        return out


# Model names that accept images (OpenAI- and Anthropic-wire; local servers: a VL model).
_VISION_MODELS = re.compile(
    r"(gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-4-vision|gpt-5|^o[13](?:$|-(?!mini))|^o4|chatgpt-4o|"
    r"claude-3|claude-(?:sonnet|opus|haiku)-4|claude-.*-4|gemini|pixtral|llava|"
    r"-vl\b|-vl-|vl-|vision|qwen2\.5-vl|qwen-vl|internvl|minicpm-v|molmo)",
    re.IGNORECASE,
)


def accepts_images(spec: str) -> bool:
    """Whether the model an LLM spec names takes images, judged by its name
    (`openai:gpt-4o` yes, `openai:qwen2.5-coder-1.5b` no, `scripted:...` no). Agents
    send screenshots only to such models unless told otherwise (`agent.images`)."""
    backend, _, model = spec.partition(":")
    if backend not in ("openai", "anthropic"):
        return False
    return bool(_VISION_MODELS.search(model))


class GenerationParams(BaseModel):
    """Generation settings; part of the response-cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = 0.0
    max_tokens: int = 1024
    stop: tuple[str, ...] | None = None
    seed: int | None = None


class Usage(BaseModel):
    """Tokens of one call. `input_tokens` counts every prompt token, cached or not;
    `cache_read_tokens` (read from the provider's prompt cache: Anthropic
    `cache_read_input_tokens`, OpenAI `prompt_tokens_details.cached_tokens`) and
    `cache_write_tokens` (written to it: Anthropic `cache_creation_input_tokens`) are parts
    of it, billed at the model's cache prices (`pricing.py`)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input price."""
        return max(0, self.input_tokens - self.cache_read_tokens - self.cache_write_tokens)


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
