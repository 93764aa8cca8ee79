"""`anthropic:MODEL` — the Anthropic Messages API (`ANTHROPIC_BASE_URL` / base_url for
proxies and test servers). System messages go to the top-level `system` field.

Prompt caching (`cache_prompt` auto | on: the same here): the system text and the stable
head of the chat (`prompt_cache.PrefixTracker`) end in `cache_control` breakpoints (5-minute
TTL); the answer's `cache_creation_input_tokens` / `cache_read_input_tokens` become
`Usage.cache_write_tokens` / `cache_read_tokens`, and `Usage.input_tokens` is their sum with
the uncached `input_tokens` (every prompt token, as OpenAI counts them)."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from lbi_icl.llm.base import GenerationParams, Message, Usage
from lbi_icl.llm.core import RemoteLLM
from lbi_icl.llm.errors import LLMRequestError
from lbi_icl.llm.prompt_cache import NO_PLAN, CachePlan, split_at
from lbi_icl.llm.retry import Failure, classify_sdk_error, expect_answer

log = logging.getLogger(__name__)


class AnthropicLLM(RemoteLLM):
    backend = "anthropic"
    key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    _accepts: frozenset[str] | set[str] = frozenset()

    def _make_client(self, api_key: str) -> Any:
        import anthropic  # imported here so `import lbi_icl` stays light

        client = anthropic.Anthropic(
            api_key=api_key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0
        )
        # SDK releases differ in which sampling options `messages.create` takes (some have
        # no `temperature`); send only what the installed SDK accepts.
        self._accepts = set(inspect.signature(client.messages.create).parameters)
        if "temperature" not in self._accepts:
            log.info("%s: installed anthropic SDK takes no 'temperature'; not sent", self.spec)
        return client

    def _cache_plan(self, messages: list[Message]) -> CachePlan:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        chat = [m.content for m in messages if m.role != "system"]
        return self.prefixes.plan(system, chat) if chat else NO_PLAN

    def _send(
        self, messages: list[Message], params: GenerationParams, plan: CachePlan = NO_PLAN
    ) -> tuple[str, Usage | None]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns = [m for m in messages if m.role != "system"]
        chat = [_wire(m, i, plan) for i, m in enumerate(turns)]
        if not chat:
            raise LLMRequestError(
                f"{self.spec}: the Messages API needs at least one user message, "
                "got only system messages"
            )
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": chat,
            "max_tokens": params.max_tokens,
        }
        if "temperature" in self._accepts:
            kwargs["temperature"] = params.temperature
        if system:
            kwargs["system"] = (
                [{"type": "text", "text": system, "cache_control": dict(_EPHEMERAL)}]
                if plan.system
                else system
            )
        if params.stop:
            kwargs["stop_sequences"] = list(params.stop)
        # The Messages API has no seed; it stays part of the cache key all the same.
        r = self._client.messages.create(**kwargs, timeout=self.timeout_s)
        from anthropic.types import Message as AnthropicMessage

        expect_answer(r, AnthropicMessage, "a message")
        text = "".join(
            getattr(block, "text", "")
            for block in r.content
            if getattr(block, "type", "") == "text"
        )
        usage = None
        if r.usage is not None:
            read = int(getattr(r.usage, "cache_read_input_tokens", 0) or 0)
            write = int(getattr(r.usage, "cache_creation_input_tokens", 0) or 0)
            usage = Usage(
                input_tokens=int(r.usage.input_tokens or 0) + read + write,
                output_tokens=int(r.usage.output_tokens or 0),
                cache_read_tokens=read,
                cache_write_tokens=write,
            )
        return text, usage

    def _rate_tokens(self, usage: Usage) -> int:
        # cache reads do not count toward Anthropic's input-tokens-per-minute limits
        return usage.input_tokens - usage.cache_read_tokens + usage.output_tokens

    def _classify(self, exc: BaseException) -> Failure | None:
        import anthropic

        return classify_sdk_error(exc, anthropic)


_EPHEMERAL = {"type": "ephemeral"}  # the 5-minute TTL (cache writes at 1.25x input)


def _wire(m: Message, index: int = 0, plan: CachePlan = NO_PLAN) -> dict[str, Any]:
    """A message as the Messages API takes it: plain text, or text blocks (cut where the
    plan says, the blocks ending at its breakpoints marked with `cache_control`) then
    base64 `image` blocks when the message carries images."""
    cuts = [p.offset for p in plan.cuts if p.message == index]
    marks = {p.offset for p in plan.points if p.message == index}
    if not m.images and not cuts:
        return {"role": m.role, "content": m.content}
    blocks: list[dict[str, Any]] = []
    end = 0
    for piece in split_at(m.content, cuts) or [m.content]:
        end += len(piece)
        block: dict[str, Any] = {"type": "text", "text": piece}
        if end in marks:
            block["cache_control"] = dict(_EPHEMERAL)
        blocks.append(block)
    blocks += [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": im.media_type, "data": im.b64()},
        }
        for im in m.images
    ]
    return {"role": m.role, "content": blocks}
