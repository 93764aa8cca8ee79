"""What every strategy shares: timing, the per-context filter mask, MMR-aware collection."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from lbi_icl.data import Task
from lbi_icl.index.load import ExampleIndex
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import PromptSet
from lbi_icl.retrieval.base import RetrievalResult, RetrievedItem, StepContext
from lbi_icl.retrieval.config import RetrievalConfig
from lbi_icl.retrieval.select import Hit, Selector, allowed_examples, collect, finalize, mmr


class BaseRetriever:
    """Times each call (LLM query-writing time reported apart) and applies the token budget
    (`select.finalize`); the items go to the prompt builder unrendered. Subclasses implement
    `_select`."""

    name = "base"
    # the query writer's templates (model, agentic); `make_retriever(..., prompts=)` sets it
    prompts: PromptSet | None = None

    def __init__(self, index: ExampleIndex | None, config: RetrievalConfig | None = None):
        self.index = index
        self.config = config or RetrievalConfig()
        self.task: Task | None = None
        self._llm_s = 0.0
        self._masks: dict[tuple[str | None, str | None], np.ndarray] = {}

    def _need_index(self) -> ExampleIndex:
        if self.index is None:
            raise ValueError(f"retrieval strategy {self.name!r} needs an index")
        return self.index

    def reset(self, task: Task) -> None:
        self.task = task

    def retrieve(self, ctx: StepContext, llm: LLM | None = None) -> RetrievalResult:
        start = time.perf_counter()
        self._llm_s = 0.0
        items, queries = self._select(ctx, llm)
        kept, dropped = finalize(items, self.index, self.config)
        wall = time.perf_counter() - start
        return RetrievalResult(
            strategy=self.name,
            items=kept,
            dropped=dropped,
            queries=queries,
            observation_chars=self.config.max_observation_chars,
            latency_s=max(0.0, wall - self._llm_s),
            llm_latency_s=self._llm_s,
        )

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        raise NotImplementedError

    def mask(self, ctx: StepContext) -> np.ndarray:
        key = (ctx.env, ctx.task_id)
        m = self._masks.get(key)
        if m is None:
            m = allowed_examples(self._need_index(), self.config, ctx)
            self._masks = {key: m}  # one episode at a time: keep only the latest
        return m

    def select_examples(
        self, fetch: Callable[[int], list[Hit]], want: int, selector: Selector, limit: int
    ) -> list[RetrievedItem]:
        """`collect` plus optional MMR over an over-fetched pool of admitted hits."""
        cfg = self.config
        if cfg.mmr_lambda is None or want <= 0:
            return collect(fetch, want, selector, overfetch=cfg.overfetch, limit=limit)
        pool = collect(fetch, want * cfg.overfetch, selector, overfetch=1, limit=limit)
        index = self._need_index()
        rows = [index.index_of(it.id) for it in pool]
        picked = mmr(pool, index.vectors("description"), rows, want, cfg.mmr_lambda)
        keep = {it.id for it in picked}
        for it in pool:
            if it.id not in keep:
                selector.release(it)
        return picked


def step_hits(
    index: ExampleIndex, rows: np.ndarray, scores: np.ndarray, strategy: str, query: str
) -> list[Hit]:
    """One hit per ranked step row: its example, matched at that step."""
    ex = index.step_example[rows]
    pos = index.step_pos[rows]
    return [
        Hit(int(e), float(s), strategy, query, None, int(p))
        for e, s, p in zip(ex, scores, pos, strict=True)
    ]


def observation_fetch(index: ExampleIndex, observation: str) -> Callable[[int], list[Hit]]:
    """BM25 of the current observation against every step observation in the index."""

    def fetch(k: int) -> list[Hit]:
        rows, scores = index.bm25("observation").top_k(observation, k)
        return step_hits(index, rows, scores, "observation", observation)

    return fetch


def dense_fetch(
    index: ExampleIndex,
    field: str,
    query: str,
    strategy: str,
    writer: str | None = None,
    *,
    exact: bool = False,
) -> Callable[[int], list[Hit]]:
    """Cosine similarity of the query's embedding with a dense example field (`exact`: the
    full scan even where a faiss engine would pick the candidates)."""
    vec = index.embed_query(query)

    def fetch(k: int) -> list[Hit]:
        rows, scores = index.dense_top_k(field, vec, k, exact=exact)  # type: ignore[arg-type]
        return [
            Hit(int(r), float(s), strategy, query, writer)
            for r, s in zip(rows, scores, strict=True)
        ]

    return fetch
