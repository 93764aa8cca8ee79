"""The one place retrieved examples and documents become prompt text (every strategy).

An example hit renders as its instruction and the steps of its window, each marked relative
to the matched step (`t` is the step whose observation matched, `t-1` the one before, ...):

    Example 1 (found by observation, score 7.12)
    Task: go to the red ball
    [t-1] Observation: You see a wall 3 steps forward.
          Action: turn left
    [t] Observation: You see a red ball 1 step forward.
          Action: go forward
    [end] Observation: You see a red ball 1 step right. (outcome: success)

A document hit renders as its title and chunk text. Token counts are estimated as
ceil(characters / 4) (no tokenizer dependency; the budget is approximate by design).
"""

from __future__ import annotations

import math

from lbi_icl.retrieval.base import RetrievedItem

EXAMPLES_HEADER = "Examples of similar situations and the actions taken in them:"
DOCS_HEADER = "Documentation:"


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _mark(offset: int) -> str:
    return "t" if offset == 0 else f"t{offset:+d}"


def render_item(
    item: RetrievedItem,
    number: int,
    *,
    max_observation_chars: int = 600,
    final_observation: str | None = None,
    outcome: str | None = None,
) -> str:
    if item.kind == "document":
        return f"Document {number}: {item.instruction or item.id}\n{item.text or ''}".rstrip()
    lines = [
        f"Example {number} (found by {item.strategy}, score {item.score:.3g})",
        f"Task: {item.instruction or ''}",
    ]
    start = item.span[0] if item.span else 0
    anchor = item.matched_step if item.matched_step is not None else start
    for i, step in enumerate(item.window):
        mark = f"[{_mark(start + i - anchor)}]"
        lines.append(f"{mark} Observation: {_cut(step.observation, max_observation_chars)}")
        lines.append(f"{' ' * len(mark)} Action: {step.action}")
    if final_observation is not None:
        tail = f" (outcome: {outcome})" if outcome else ""
        lines.append(f"[end] Observation: {_cut(final_observation, max_observation_chars)}{tail}")
    return "\n".join(lines)


def render_block(items: list[RetrievedItem], texts: list[str]) -> str:
    """Join already-rendered items under their section headers (examples, then documents)."""
    examples = [t for it, t in zip(items, texts, strict=True) if it.kind == "example"]
    docs = [t for it, t in zip(items, texts, strict=True) if it.kind == "document"]
    parts = []
    if examples:
        parts.append(EXAMPLES_HEADER + "\n\n" + "\n\n".join(examples))
    if docs:
        parts.append(DOCS_HEADER + "\n\n" + "\n\n".join(docs))
    return "\n\n".join(parts)
