"""`agentic` (the paper's method, Algorithm 2): observation-based BM25 hits (m1), then
model-based dense hits (m2) that exclude every example (and source trajectory) the first
part found, so no example appears twice. With `fusion='rrf'` both candidate lists are fused
by reciprocal rank and m1 + m2 hits are taken from the fused ranking instead."""

from __future__ import annotations

from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import dense_fetch, observation_fetch
from lbi_icl.retrieval.model import ModelRetriever, write_query
from lbi_icl.retrieval.select import Selector, collect, rrf


class AgenticRetriever(ModelRetriever):
    name = "agentic"

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        cfg = self.config
        selector = Selector(index, cfg, ctx, self.mask(ctx))
        if cfg.fusion == "rrf":
            query, writer, seconds = write_query(ctx, llm, cfg)
            self._llm_s += seconds
            want = cfg.m1 + cfg.m2
            pool = want * cfg.overfetch * 4
            fused = rrf(
                [
                    observation_fetch(index, ctx.observation)(pool),
                    dense_fetch(index, "description", query, "model", writer)(pool),
                ],
                k=cfg.rrf_k,
            )
            items = collect(lambda k: fused[:k], want, selector, overfetch=cfg.overfetch)
            return items, {"observation": ctx.observation, "model": query, "query_writer": writer}
        fetch = observation_fetch(index, ctx.observation)
        items = self.select_examples(fetch, cfg.m1, selector, index.n_steps)
        more, query, writer = self.model_items(ctx, llm, selector, cfg.m2)
        return items + more, {
            "observation": ctx.observation,
            "model": query,
            "query_writer": writer,
        }
