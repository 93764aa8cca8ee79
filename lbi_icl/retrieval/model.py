"""`model`: every step an LLM writes a search query (the paper: "what examples or interaction
history would help predict the next action?"), matched densely against each example's
description (instruction + its action sequence), m2 = 5.

Without an LLM the query comes from a documented template: the instruction, the last
action and the current observation. Every hit records its `query_writer`
('llm:<spec>' or 'template').
"""

from __future__ import annotations

import time

from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever, dense_fetch
from lbi_icl.retrieval.config import RetrievalConfig
from lbi_icl.retrieval.select import Selector

QUERY_SYSTEM = (
    "You help an AI agent look up past interaction examples. You write search queries; "
    "you never act in the environment yourself."
)
QUERY_PROMPT = """The agent is working on this task:
{instruction}

Its recent interaction history:
{history}

Its current observation:
{observation}

Which examples of past interactions would best help predict the agent's next action?
Describe them as one short search query (a task and the kind of actions it involves).
Answer with the query only."""


def template_query(ctx: StepContext) -> str:
    last = ctx.history[-1].action if ctx.history else "none"
    return f"{ctx.instruction}\nLast action: {last}\nObservation: {ctx.observation}"


def query_messages(ctx: StepContext, history_steps: int = 3) -> list[Message]:
    recent = ctx.history[-history_steps:] if history_steps else []
    history = (
        "\n".join(f"- observation: {s.observation}\n  action: {s.action}" for s in recent)
        or "(none yet)"
    )
    user = QUERY_PROMPT.format(
        instruction=ctx.instruction, history=history, observation=ctx.observation
    )
    return [Message(role="system", content=QUERY_SYSTEM), Message(role="user", content=user)]


def clean_query(text: str) -> str:
    """First non-empty line, without a 'Query:' prefix or surrounding quotes."""
    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.lower().startswith("query:"):
            line = line[6:].strip()
        return line.strip("\"'` ")
    return ""


def write_query(
    ctx: StepContext, llm: LLM | None, config: RetrievalConfig
) -> tuple[str, str, float]:
    """(query, writer, LLM seconds). An empty LLM answer falls back to the template."""
    if llm is None:
        return template_query(ctx), "template", 0.0
    start = time.perf_counter()
    resp = llm.complete(
        query_messages(ctx, config.query_history_steps),
        GenerationParams(temperature=0.0, max_tokens=config.query_max_tokens),
    )
    seconds = time.perf_counter() - start
    query = clean_query(resp.text)
    if not query:
        return template_query(ctx), "template", seconds
    return query, f"llm:{llm.spec}", seconds


class ModelRetriever(BaseRetriever):
    name = "model"

    def model_items(
        self, ctx: StepContext, llm: LLM | None, selector: Selector, want: int
    ) -> tuple[list[RetrievedItem], str, str]:
        index = self._need_index()
        query, writer, seconds = write_query(ctx, llm, self.config)
        self._llm_s += seconds
        fetch = dense_fetch(index, "description", query, "model", writer)
        return self.select_examples(fetch, want, selector, index.n_examples), query, writer

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        selector = Selector(index, self.config, ctx, self.mask(ctx))
        items, query, writer = self.model_items(ctx, llm, selector, self.config.m2)
        return items, {"model": query, "query_writer": writer}
