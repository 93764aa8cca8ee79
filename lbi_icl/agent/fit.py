"""Fit the per-step prompt into the model's context window.

With `AgentConfig.context_tokens` set, the rendered prompt (system + user message) plus the
tokens reserved for the answer (`max_output_tokens`, default 512) must fit in it. When it
does not, the parts that can go, go in this order:

1. the retrieval block, lowest-ranked example (or document) first;
2. the interaction history, oldest step first (down to none, "(N earlier steps not shown)");

and when the system message, objective, current observation and answer format alone are too
long, `PromptTooLongError` says by how much; the instruction is never truncated silently.

Token counts are estimated as ceil(characters / `chars_per_token`) + 4 per message
(no tokenizer dependency); the default 3.0 characters per token over-counts English for
Qwen/Llama-style tokenizers a little, leaving a margin. The server's `usage` gives the true
count afterwards (StepLog.input_tokens).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lbi_icl.agent.base import AgentConfig
from lbi_icl.agent.prompt import HistoryEntry, render_prompt
from lbi_icl.llm.base import Message
from lbi_icl.prompts import PromptSet

DEFAULT_OUTPUT_TOKENS = 512
MESSAGE_OVERHEAD = 4
_ITEM_START = re.compile(r"\n\n(?=(?:Example|Document) \d+\b)")
_HEADERS = ("Examples of similar situations and the actions taken in them:", "Documentation:")


class PromptTooLongError(ValueError):
    """Even without retrieved examples and history the prompt exceeds the context."""


@dataclass(frozen=True)
class FitResult:
    messages: list[Message]
    tokens: int  # estimated prompt tokens
    budget: int | None  # context - reserved output tokens (None: no fitting)
    items_dropped: int = 0  # retrieved examples/documents left out to fit
    history_dropped: int = 0  # history steps left out (beyond `history_steps`) to fit
    templates: tuple[str, ...] = ()  # prompt template names the final prompt used


def estimate_tokens(messages: list[Message], chars_per_token: float = 3.0) -> int:
    return sum(math.ceil(len(m.content) / chars_per_token) + MESSAGE_OVERHEAD for m in messages)


def split_reference(reference: str) -> list[str]:
    """The retrieval block cut into its items (the section headers stay with the item that
    follows them), so items can be dropped from the end."""
    text = reference.strip()
    out: list[str] = []
    for chunk in _ITEM_START.split(text) if text else []:
        if out and out[-1].rstrip() in _HEADERS:  # a header travels with its first item
            out[-1] = f"{out[-1]}\n\n{chunk}"
        else:
            out.append(chunk)
    return out


def join_reference(chunks: list[str]) -> str:
    text = "\n\n".join(chunks).rstrip()
    for header in _HEADERS:  # a header whose items were all dropped goes too
        if text.endswith(header):
            text = text[: -len(header)].rstrip()
    return text


def fit_messages(
    *,
    action_space_text: str,
    instruction: str,
    observation: str,
    history: list[HistoryEntry],
    reference: str,
    config: AgentConfig,
    env_name: str | None = None,
    valid_actions: list[str] | None = None,
    prompts: PromptSet | None = None,
) -> FitResult:
    """`render_prompt`, shrunk to `config.context_tokens` (see the module docstring)."""
    used: tuple[str, ...] = ()

    def render(ref: str, cfg: AgentConfig) -> list[Message]:
        nonlocal used
        rendered = render_prompt(
            action_space_text=action_space_text,
            instruction=instruction,
            observation=observation,
            history=history,
            reference=ref,
            config=cfg,
            env_name=env_name,
            valid_actions=valid_actions,
            prompts=prompts,
        )
        used = rendered.templates
        return rendered.messages

    cpt = config.chars_per_token
    messages = render(reference, config)
    tokens = estimate_tokens(messages, cpt)
    if config.context_tokens is None:
        return FitResult(messages, tokens, None, templates=used)
    reserve = config.max_output_tokens or DEFAULT_OUTPUT_TOKENS
    budget = config.context_tokens - reserve
    if tokens <= budget:
        return FitResult(messages, tokens, budget, templates=used)
    chunks = split_reference(reference)
    dropped = 0
    while chunks and tokens > budget:
        chunks.pop()
        dropped += 1
        messages = render(join_reference(chunks), config)
        tokens = estimate_tokens(messages, cpt)
    shown = min(config.history_steps, len(history))
    cut = 0
    while tokens > budget and shown > 0:
        shown -= 1
        cut += 1
        messages = render("", config.model_copy(update={"history_steps": shown}))
        tokens = estimate_tokens(messages, cpt)
    if tokens > budget:
        raise PromptTooLongError(
            f"the prompt needs ~{tokens} tokens without any retrieved example or history "
            f"(instruction {len(instruction)} chars, current observation {len(observation)} "
            f"chars) but the context allows {budget} ({config.context_tokens} context - "
            f"{reserve} reserved for the answer); raise context_tokens or lower "
            "current_observation_chars / max_output_tokens"
        )
    return FitResult(messages, tokens, budget, dropped, cut, used)
