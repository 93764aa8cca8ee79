"""`openai:MODEL` — the OpenAI chat-completions API, or any OpenAI-compatible server
(vLLM, Ollama, llama.cpp server, LiteLLM) via `base_url` / `OPENAI_BASE_URL`."""

from __future__ import annotations

import logging
import re
from typing import Any

from lbi_icl.llm.base import GenerationParams, Message, Usage
from lbi_icl.llm.core import RemoteLLM
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

    def _send(self, messages: list[Message], params: GenerationParams) -> tuple[str, Usage | None]:
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
        r = self._client.chat.completions.create(**kwargs, timeout=self.timeout_s)
        from openai.types.chat import ChatCompletion

        expect_answer(r, ChatCompletion, "a chat completion")
        if not r.choices:
            raise BadResponseError("HTTP 200 with an empty `choices` list: no answer")
        text = r.choices[0].message.content or ""
        usage = None
        if r.usage is not None:
            usage = Usage(
                input_tokens=int(r.usage.prompt_tokens or 0),
                output_tokens=int(r.usage.completion_tokens or 0),
            )
        return text, usage

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
