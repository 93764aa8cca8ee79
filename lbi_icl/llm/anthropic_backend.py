"""`anthropic:MODEL` — the Anthropic Messages API (`ANTHROPIC_BASE_URL` / base_url for
proxies and test servers). System messages go to the top-level `system` field."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from lbi_icl.llm.base import GenerationParams, Message, Usage
from lbi_icl.llm.core import RemoteLLM
from lbi_icl.llm.errors import LLMRequestError
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

    def _send(self, messages: list[Message], params: GenerationParams) -> tuple[str, Usage | None]:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        chat = [_wire(m) for m in messages if m.role != "system"]
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
            kwargs["system"] = system
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
            usage = Usage(
                input_tokens=int(r.usage.input_tokens or 0),
                output_tokens=int(r.usage.output_tokens or 0),
            )
        return text, usage

    def _classify(self, exc: BaseException) -> Failure | None:
        import anthropic

        return classify_sdk_error(exc, anthropic)


def _wire(m: Message) -> dict[str, Any]:
    """A message as the Messages API takes it: plain text, or a text block then base64
    `image` blocks when the message carries images."""
    if not m.images:
        return {"role": m.role, "content": m.content}
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}]
    blocks += [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": im.media_type, "data": im.b64()},
        }
        for im in m.images
    ]
    return {"role": m.role, "content": blocks}
