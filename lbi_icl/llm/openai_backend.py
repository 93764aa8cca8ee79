"""`openai:MODEL` — the OpenAI chat-completions API, or any OpenAI-compatible server
(vLLM, Ollama, llama.cpp server, LiteLLM) via `base_url` / `OPENAI_BASE_URL`.

Prompt caching is automatic on OpenAI's side (prefixes of 1024+ tokens); the answer's
`usage.prompt_tokens_details.cached_tokens` becomes `Usage.cache_read_tokens`. Requests also
carry `prompt_cache_key` (a hash of model and system text, which routes requests sharing a
prefix to the same cache): with `cache_prompt="auto"` only to OpenAI's own API (another
server may refuse an unknown field), with `"on"` to any server, with `"off"` never."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from lbi_icl.llm.base import GenerationParams, Message, Usage
from lbi_icl.llm.core import RemoteLLM
from lbi_icl.llm.prompt_cache import NO_PLAN, CachePlan, prompt_cache_key
from lbi_icl.llm.retry import BadResponseError, Failure, classify_sdk_error, expect_answer

log = logging.getLogger(__name__)

# Reasoning models reject `max_tokens` and want `max_completion_tokens`.
_COMPLETION_TOKENS_MODELS = re.compile(r"^(o\d|gpt-5)")


class OpenAILLM(RemoteLLM):
    backend = "openai"
    key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"

    def _make_client(self, api_key: str) -> Any:
        import openai  # imported here so `import lbi_icl` stays light

        return openai.OpenAI(
            api_key=api_key, base_url=self.base_url, timeout=self.timeout_s, max_retries=0
        )

    def _send(
        self, messages: list[Message], params: GenerationParams, plan: CachePlan = NO_PLAN
    ) -> tuple[str, Usage | None]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire(m) for m in messages],
            "temperature": params.temperature,
        }
        token_param = (
            "max_completion_tokens" if _COMPLETION_TOKENS_MODELS.match(self.model) else "max_tokens"
        )
        kwargs[token_param] = params.max_tokens
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if self._sends_cache_key():
            system = "\n\n".join(m.content for m in messages if m.role == "system")
            kwargs["prompt_cache_key"] = prompt_cache_key(self.model, system)
        r = self._client.chat.completions.create(**kwargs, timeout=self.timeout_s)
        from openai.types.chat import ChatCompletion

        expect_answer(r, ChatCompletion, "a chat completion")
        if not r.choices:
            raise BadResponseError("HTTP 200 with an empty `choices` list: no answer")
        text = r.choices[0].message.content or ""
        usage = None
        if r.usage is not None:
            details = getattr(r.usage, "prompt_tokens_details", None)
            usage = Usage(
                input_tokens=int(r.usage.prompt_tokens or 0),
                output_tokens=int(r.usage.completion_tokens or 0),
                cache_read_tokens=int(getattr(details, "cached_tokens", 0) or 0),
            )
        return text, usage

    def _sends_cache_key(self) -> bool:
        if self.cache_prompt == "on":
            return True
        if self.cache_prompt == "off":
            return False
        host = urlsplit(self.base_url).hostname if self.base_url else "api.openai.com"
        return host == "api.openai.com"

    def _classify(self, exc: BaseException) -> Failure | None:
        import openai

        return classify_sdk_error(exc, openai)


def _wire(m: Message) -> dict[str, Any]:
    """A chat message as the API takes it: plain text, or text then `image_url` parts
    (data URLs) when the message carries images."""
    if not m.images:
        return {"role": m.role, "content": m.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}]
    parts += [{"type": "image_url", "image_url": {"url": im.data_url()}} for im in m.images]
    return {"role": m.role, "content": parts}
