"""`agentic` (the paper's method, Algorithm 2): observation-based BM25 hits (m1) and
model-based dense hits (m2) that exclude every example (and source trajectory) the first
part found, so no example appears twice. The two parts are interleaved by rank (m1 #1,
m2 #1, m1 #2, ...) so the token budget, which cuts from the end, takes from both alike.
With `fusion='rrf'` both candidate lists are fused by reciprocal rank and m1 + m2 hits are
taken from the fused ranking instead.

With the LLM-free template query, the query does not depend on the BM25 part, so its
embedding starts on a worker thread while BM25 runs (torch and numpy release the GIL: on 2
cores the two overlap). The result is the same; only the wall time of a step shrinks."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, wait

import numpy as np

from lbi_icl.embed import HashEmbedder
from lbi_icl.index.load import ExampleIndex
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import dense_fetch, observation_fetch
from lbi_icl.retrieval.config import RetrievalConfig
from lbi_icl.retrieval.model import ModelRetriever, template_query, write_query
from lbi_icl.retrieval.select import Selector, collect, interleave, rrf
from lbi_icl.util.thread_pools import shared_pool


class AgenticRetriever(ModelRetriever):
    name = "agentic"

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        cfg = self.config
        pending = prefetch_template_embedding(index, ctx, llm, cfg)

        def embedded() -> None:  # the model part needs the prefetched vector from here on
            if pending is not None:
                pending.result()  # an embedding error surfaces here, as without prefetch

        try:
            return self._select_both(index, ctx, llm, embedded)
        finally:
            if pending is not None:
                wait([pending])  # never leave a step's embedding running behind it

    def _select_both(
        self, index: ExampleIndex, ctx: StepContext, llm: LLM | None, embedded: Callable[[], None]
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        cfg = self.config
        selector = Selector(index, cfg, ctx, self.mask(ctx))
        if cfg.fusion == "rrf":
            want = cfg.m1 + cfg.m2
            pool = want * cfg.overfetch * 4
            bm25_hits = observation_fetch(index, ctx.observation)(pool)
            query, writer, seconds = write_query(ctx, llm, cfg, self.prompts)
            self._llm_s += seconds
            embedded()
            fused = rrf(
                [
                    bm25_hits,
                    dense_fetch(
                        index,
                        "description",
                        query,
                        "model",
                        writer,
                        exact=cfg.dense_search == "exact",
                    )(pool),
                ],
                k=cfg.rrf_k,
            )
            items = collect(lambda k: fused[:k], want, selector, overfetch=cfg.overfetch)
            return items, {"observation": ctx.observation, "model": query, "query_writer": writer}
        fetch = observation_fetch(index, ctx.observation)
        items = self.select_examples(fetch, cfg.m1, selector, index.n_steps)
        embedded()
        more, query, writer = self.model_items(ctx, llm, selector, cfg.m2)
        # Budget fairness: interleaved by rank, so a token budget cut drops the lowest-ranked
        # hits of both parts alike (m2 hits are not the first to go).
        return interleave(items, more), {
            "observation": ctx.observation,
            "model": query,
            "query_writer": writer,
        }


def prefetch_template_embedding(
    index: ExampleIndex, ctx: StepContext, llm: LLM | None, config: RetrievalConfig
) -> Future[np.ndarray] | None:
    """Start embedding the template query (it goes into the index's query cache, where the
    model part finds it). None when an LLM writes the query (its text is not known yet) or
    the embedder is `HashEmbedder` (hashing costs less than the thread hand-off)."""
    if llm is not None or isinstance(index.embedder, HashEmbedder):
        return None
    query = template_query(ctx, config.template_observation_words)
    return shared_pool("query-embed", 4).submit(index.embed_query, query)
