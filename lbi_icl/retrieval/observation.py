"""`observation`: every step, BM25 of the current observation against the observations
inside the examples (paper: observation-based retrieval, m1 = 5). A hit is the example with
a window of steps around the matched step."""

from __future__ import annotations

from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever, observation_fetch
from lbi_icl.retrieval.select import Selector


class ObservationRetriever(BaseRetriever):
    name = "observation"

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        selector = Selector(index, self.config, ctx, self.mask(ctx))
        fetch = observation_fetch(index, ctx.observation)
        items = self.select_examples(fetch, self.config.m1, selector, index.n_steps)
        return items, {"observation": ctx.observation}
