"""`rag`: the conventional RAG baseline. Documentation chunks retrieved once per episode by
the task instruction (dense cosine; with `fusion='rrf'` BM25 and dense fused), up to
`rag_max_docs` (paper: at most 50) and the token budget; the same chunks at every step."""

from __future__ import annotations

from lbi_icl.data import Task
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever
from lbi_icl.retrieval.select import Hit, rrf


class RagRetriever(BaseRetriever):
    name = "rag"

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._fixed: tuple[str, list[RetrievedItem]] | None = None

    def reset(self, task: Task) -> None:
        super().reset(task)
        self._fixed = (task.instruction, self._choose(task.instruction, task.env))

    def _choose(self, instruction: str, env: str | None) -> list[RetrievedItem]:
        index = self._need_index()
        cfg = self.config
        chunks = index.chunks
        n = len(chunks)
        if n == 0 or cfg.rag_max_docs == 0:
            return []
        rows, scores = index.dense_top_k("docs", instruction, n)
        hits = [
            Hit(int(r), float(s), "rag", instruction) for r, s in zip(rows, scores, strict=True)
        ]
        if cfg.fusion == "rrf":
            brows, bscores = index.bm25("docs").top_k(instruction, n)
            bm = [
                Hit(int(r), float(s), "rag", instruction)
                for r, s in zip(brows, bscores, strict=True)
            ]
            hits = [Hit(h.idx, h.score, "rag", instruction) for h in rrf([bm, hits], cfg.rrf_k)]
        envs = cfg.envs
        if cfg.same_env and env:
            envs = [env] if envs is None else [e for e in envs if e == env]
        items: list[RetrievedItem] = []
        seen: set[str] = set()
        for hit in hits:
            ch = chunks[hit.idx]
            if envs is not None and ch.env not in envs:
                continue
            if cfg.dedup and ch.text in seen:
                continue
            seen.add(ch.text)
            items.append(
                RetrievedItem(
                    id=ch.id,
                    kind="document",
                    score=hit.score,
                    rank=len(items),
                    strategy="rag",
                    query=instruction,
                    instruction=ch.title,
                    text=ch.text,
                )
            )
            if len(items) >= cfg.rag_max_docs:
                break
        return items

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        if self._fixed is None or self._fixed[0] != ctx.instruction:
            self._fixed = (ctx.instruction, self._choose(ctx.instruction, ctx.env))
        return [it.model_copy(deep=True) for it in self._fixed[1]], {"rag": ctx.instruction}
