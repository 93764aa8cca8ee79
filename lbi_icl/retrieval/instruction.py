"""`instruction`: examples retrieved once per episode by instruction similarity (dense,
cosine over instruction vectors); the same examples at every step. Each step the shown
window is re-aligned to the current observation (same examples, relevant part)."""

from __future__ import annotations

from lbi_icl.data import Task
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever, dense_fetch
from lbi_icl.retrieval.select import Hit, Selector, make_example_item


class InstructionRetriever(BaseRetriever):
    name = "instruction"

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._fixed: tuple[str, list[Hit]] | None = None

    def reset(self, task: Task) -> None:
        super().reset(task)
        ctx = StepContext(
            instruction=task.instruction, observation="", task_id=task.id, env=task.env
        )
        self._fixed = (task.instruction, self._choose(ctx))

    def _choose(self, ctx: StepContext) -> list[Hit]:
        index = self._need_index()
        selector = Selector(index, self.config, ctx, self.mask(ctx))
        fetch = dense_fetch(
            index,
            "instruction",
            ctx.instruction,
            "instruction",
            exact=self.config.dense_search == "exact",
        )
        items = self.select_examples(fetch, self.config.k_instruction, selector, index.n_examples)
        return [Hit(index.index_of(it.id), it.score, "instruction", it.query) for it in items]

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        if self._fixed is None or self._fixed[0] != ctx.instruction:
            self._fixed = (ctx.instruction, self._choose(ctx))
        items = [make_example_item(index, self.config, ctx, hit) for hit in self._fixed[1]]
        return items, {"instruction": ctx.instruction}
