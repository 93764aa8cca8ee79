"""The one place retrieved examples and documents become prompt text.

Retrieval hands over typed items (`RetrievedItem`: id, window of steps, score, rank, the
strategy that found it); the prompt builder (`agent/fit.py`) renders the items it keeps
with `render_reference`, and the retrieval token budget (`select.finalize`) sizes each item
with `item_tokens`. Nothing parses this text back: fitting drops items, not text.

An example hit renders as its instruction and the steps of its window, each marked relative
to the matched step (`t` is the step whose observation matched, `t-1` the one before, ...):

    Example 1 (found by observation, score 7.12)
    Task: go to the red ball
    [t-1] Observation: You see a wall 3 steps forward.
          Action: turn left
    [t] Observation: You see a red ball 1 step forward.
          Action: go forward
    [end] Observation: You see a red ball 1 step right. (outcome: success)

A document hit renders as its title and chunk text. Items are numbered by their position in
the list rendered (rank order), examples and documents together.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbi_icl.retrieval.base import DEFAULT_OBSERVATION_CHARS, RetrievedItem
from lbi_icl.util.tokenizer import estimate_tokens

EXAMPLES_HEADER = "Examples of similar situations and the actions taken in them:"
DOCS_HEADER = "Documentation:"


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _mark(offset: int) -> str:
    return "t" if offset == 0 else f"t{offset:+d}"


def render_item(
    item: RetrievedItem, number: int, *, observation_chars: int = DEFAULT_OBSERVATION_CHARS
) -> str:
    """One item as the prompt shows it (`number`: its position in the block, from 1)."""
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
        lines.append(f"{mark} Observation: {_cut(step.observation, observation_chars)}")
        lines.append(f"{' ' * len(mark)} Action: {step.action}")
    if item.final_observation is not None:
        tail = f" (outcome: {item.outcome})" if item.outcome else ""
        lines.append(f"[end] Observation: {_cut(item.final_observation, observation_chars)}{tail}")
    return "\n".join(lines)


def item_tokens(
    item: RetrievedItem, number: int, *, observation_chars: int = DEFAULT_OBSERVATION_CHARS
) -> int:
    """Estimated tokens of the item's text (`util.tokenizer.estimate_tokens`)."""
    return estimate_tokens(render_item(item, number, observation_chars=observation_chars))


def render_reference(
    items: Sequence[RetrievedItem], *, observation_chars: int = DEFAULT_OBSERVATION_CHARS
) -> str:
    """The reference block: the items numbered in list order, examples under their header,
    then documents under theirs; "" for no items."""
    texts = [
        render_item(it, n, observation_chars=observation_chars) for n, it in enumerate(items, 1)
    ]
    examples = [t for it, t in zip(items, texts, strict=True) if it.kind == "example"]
    docs = [t for it, t in zip(items, texts, strict=True) if it.kind == "document"]
    parts = []
    if examples:
        parts.append(EXAMPLES_HEADER + "\n\n" + "\n\n".join(examples))
    if docs:
        parts.append(DOCS_HEADER + "\n\n" + "\n\n".join(docs))
    return "\n\n".join(parts)
