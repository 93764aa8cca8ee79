"""`model`: every step an LLM writes a search query (the paper: "what examples or interaction
history would help predict the next action?"), matched densely against each example's
description (instruction + its action sequence), m2 = 5.

The fixed request comes first in the query prompt and the step's text last, so consecutive
calls share a long prefix that a local server (llama.cpp) does not evaluate again.

Without an LLM the query comes from a documented template: the instruction, the last
action and the current observation. Every hit records its `query_writer`
('llm:<spec>' or 'template').
"""

from __future__ import annotations

import re
import time

from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.prompts import PromptSet, default_prompts
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever, dense_fetch
from lbi_icl.retrieval.config import RetrievalConfig
from lbi_icl.retrieval.select import Selector

_WORD = re.compile(r"\S+")


def first_words(text: str, max_words: int | None) -> str:
    """`text` up to the end of its `max_words`-th whitespace-separated word (None: all)."""
    if max_words is None:
        return text
    end = None
    for i, m in enumerate(_WORD.finditer(text)):
        if i == max_words - 1:
            end = m.end()
            break
    return text if end is None else text[:end]


def template_query(ctx: StepContext, max_observation_words: int | None = None) -> str:
    """The query written without an LLM: instruction, last action, current observation.
    `max_observation_words` keeps only the observation's first words (None: all of it);
    `RetrievalConfig.template_observation_words` sets it for the strategies."""
    last = ctx.history[-1].action if ctx.history else "none"
    obs = first_words(ctx.observation, max_observation_words)
    return f"{ctx.instruction}\nLast action: {last}\nObservation: {obs}"


def query_messages(
    ctx: StepContext,
    history_steps: int = 3,
    observation_words: int | None = None,
    prompts: PromptSet | None = None,
) -> list[Message]:
    """The query-writing prompt (templates `query_system`, `query_user`);
    `observation_words` keeps only the first words of each observation in it (None: all),
    so small local models get a short prompt."""
    prompts = prompts or default_prompts()
    recent = ctx.history[-history_steps:] if history_steps else []
    history = (
        "\n".join(
            f"- observation: {first_words(s.observation, observation_words)}\n  action: {s.action}"
            for s in recent
        )
        or "(none yet)"
    )
    user = prompts.render(
        "query_user",
        instruction=ctx.instruction,
        history=history,
        observation=first_words(ctx.observation, observation_words),
    )
    system = prompts.render("query_system")
    return [Message(role="system", content=system), Message(role="user", content=user)]


_QUERY_FENCE = re.compile(r"^\s*(```|~~~)")
_QUERY_LABEL = re.compile(r"^(?:search\s+query|query|search|answer)\s*[:：]\s*", re.IGNORECASE)
_QUERY_BULLET = re.compile(r"^(?:[-*•>]+|\d+[.)])\s+")
_QUERY_PREAMBLE = re.compile(r"^(?:here\s+is|here's|sure|certainly|okay|ok)\b.*:$", re.I)
_QUERY_EDGES = "\"'`*_ “”‘’"


def clean_query(text: str, max_words: int | None = None) -> str:
    """The query in a model's answer: the first line with content, without code fences,
    a 'Query:' / 'Search query:' label, list bullets, markdown emphasis, surrounding quotes
    or a lead-in such as 'Here is the query:'; cut to `max_words` words."""
    for raw in text.strip().splitlines():
        line = raw.strip()
        if not line or _QUERY_FENCE.match(line) or _QUERY_PREAMBLE.match(line):
            continue
        line = _QUERY_BULLET.sub("", line).strip(_QUERY_EDGES)
        line = _QUERY_LABEL.sub("", line).strip(_QUERY_EDGES)
        if not line or (line.endswith(":") and len(line.split()) <= 6):
            continue  # a heading such as '**Search query:**' with the query below
        words = line.split()
        if max_words is not None and len(words) > max_words:
            line = " ".join(words[:max_words])
        return line
    return ""


def write_query(
    ctx: StepContext, llm: LLM | None, config: RetrievalConfig, prompts: PromptSet | None = None
) -> tuple[str, str, float]:
    """(query, writer, LLM seconds). An empty LLM answer falls back to the template."""
    words = config.template_observation_words
    if llm is None:
        return template_query(ctx, words), "template", 0.0
    start = time.perf_counter()
    resp = llm.complete(
        query_messages(ctx, config.query_history_steps, config.query_observation_words, prompts),
        GenerationParams(temperature=0.0, max_tokens=config.query_max_tokens),
    )
    seconds = time.perf_counter() - start
    query = clean_query(resp.text, config.query_max_words)
    if not query:
        return template_query(ctx, words), "template", seconds
    return query, f"llm:{llm.spec}", seconds


class ModelRetriever(BaseRetriever):
    name = "model"

    def model_items(
        self, ctx: StepContext, llm: LLM | None, selector: Selector, want: int
    ) -> tuple[list[RetrievedItem], str, str]:
        index = self._need_index()
        query, writer, seconds = write_query(ctx, llm, self.config, self.prompts)
        self._llm_s += seconds
        fetch = dense_fetch(
            index, "description", query, "model", writer, exact=self.config.dense_search == "exact"
        )
        return self.select_examples(fetch, want, selector, index.n_examples), query, writer

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        selector = Selector(index, self.config, ctx, self.mask(ctx))
        items, query, writer = self.model_items(ctx, llm, selector, self.config.m2)
        return items, {"model": query, "query_writer": writer}
