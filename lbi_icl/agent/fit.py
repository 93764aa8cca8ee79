"""The prompt builder: renders the step's prompt from typed parts and fits it into the model's
context window.

The retrieved items arrive as `RetrievedItem`s (never as text) and are rendered here, by
`retrieval/render.py`. With `AgentConfig.context_tokens` set, the prompt (system + user
message) plus the tokens reserved for the answer (`max_output_tokens`, default
`DEFAULT_OUTPUT_TOKENS`) must fit in it. When it does not, parts are dropped by structure,
in this order:

1. retrieved items, lowest-ranked first (the highest `rank`; examples and documents alike);
2. the interaction history, oldest step first (down to none, "(N earlier steps not shown)");

and when the system message, objective, current observation and answer format alone are too
long, `PromptTooLongError` says by how much; the instruction is never truncated silently.
Headings and templates play no part in what is dropped: a renamed heading or a user's own
template fits the same way.

Token counts are the project's one estimate (`util.tokenizer.estimate_tokens`; a run's
`AgentConfig.chars_per_token` replaces it with characters / that) per message plus
`MESSAGE_OVERHEAD` for the chat template's role markers. The server's `usage` gives the
true count afterwards (StepLog.input_tokens); docs/agent.md has how far the estimate is off
for a local model's tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lbi_icl.agent.base import DEFAULT_OUTPUT_TOKENS, AgentConfig
from lbi_icl.agent.prompt import HistoryEntry, RenderedPrompt, render_prompt
from lbi_icl.llm.base import Message
from lbi_icl.prompts import PromptSet
from lbi_icl.retrieval.base import DEFAULT_OBSERVATION_CHARS, RetrievedItem
from lbi_icl.retrieval.render import render_reference
from lbi_icl.util.tokenizer import estimate_tokens

MESSAGE_OVERHEAD = 4  # chat-template tokens around each message (role markers)


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
    items_shown: int = 0  # retrieved items the prompt shows


def estimate_prompt_tokens(messages: list[Message], chars_per_token: float | None = None) -> int:
    """Estimated tokens of a prompt: each message's text plus its chat-template overhead."""
    return sum(estimate_tokens(m.content, chars_per_token) + MESSAGE_OVERHEAD for m in messages)


def fit_messages(
    *,
    action_space_text: str,
    instruction: str,
    observation: str,
    history: list[HistoryEntry],
    items: Sequence[RetrievedItem] = (),
    observation_chars: int = DEFAULT_OBSERVATION_CHARS,
    config: AgentConfig,
    env_name: str | None = None,
    valid_actions: list[str] | None = None,
    prompts: PromptSet | None = None,
) -> FitResult:
    """The step's prompt with `items` (rendered with `observation_chars` characters per
    example observation), shrunk to `config.context_tokens` (see the module docstring)."""
    ranked = sorted(items, key=lambda it: it.rank)  # stable: equal ranks keep their order
    cpt = config.chars_per_token

    def render(n_items: int, cfg: AgentConfig) -> tuple[RenderedPrompt, int]:
        rendered = render_prompt(
            action_space_text=action_space_text,
            instruction=instruction,
            observation=observation,
            history=history,
            reference=render_reference(ranked[:n_items], observation_chars=observation_chars),
            config=cfg,
            env_name=env_name,
            valid_actions=valid_actions,
            prompts=prompts,
        )
        return rendered, estimate_prompt_tokens(rendered.messages, cpt)

    shown = len(ranked)
    prompt, tokens = render(shown, config)
    if config.context_tokens is None:
        return FitResult(
            prompt.messages, tokens, None, templates=prompt.templates, items_shown=shown
        )
    reserve = config.max_output_tokens or DEFAULT_OUTPUT_TOKENS
    budget = config.context_tokens - reserve
    while shown > 0 and tokens > budget:  # 1. the lowest-ranked item goes first
        shown -= 1
        prompt, tokens = render(shown, config)
    steps = min(config.history_steps, len(history))
    cut = 0
    while tokens > budget and steps > 0:  # 2. then the oldest history step
        steps -= 1
        cut += 1
        prompt, tokens = render(0, config.model_copy(update={"history_steps": steps}))
    if tokens > budget:
        raise PromptTooLongError(
            f"the prompt needs ~{tokens} tokens without any retrieved example or history "
            f"(instruction {len(instruction)} chars, current observation {len(observation)} "
            f"chars) but the context allows {budget} ({config.context_tokens} context - "
            f"{reserve} reserved for the answer); raise context_tokens or lower "
            "current_observation_chars / max_output_tokens"
        )
    return FitResult(
        prompt.messages,
        tokens,
        budget,
        items_dropped=len(ranked) - shown,
        history_dropped=cut,
        templates=prompt.templates,
        items_shown=shown,
    )
