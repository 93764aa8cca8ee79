"""`none`: zero-shot, no examples (the paper's 'no retrieval' row)."""

from __future__ import annotations

from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever


class NoRetriever(BaseRetriever):
    name = "none"

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        return [], {}
