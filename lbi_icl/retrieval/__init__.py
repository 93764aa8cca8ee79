"""Retrieval strategies by name: none, rag, instruction, observation, model, agentic (the
paper's), task_aware, history (fused re-ranking, `task_aware.py` / `history.py`), and the
control `random` (windows drawn at random, `random_windows.py`).

`make_retriever(strategy, index, config)` is the one entry point; every strategy shares the
selection rules of `retrieval.select` and the rendering of `retrieval.render`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lbi_icl.retrieval.strategies import STRATEGIES, STRATEGY_TABLE
from lbi_icl.util.lazy import lazy_getattr

if TYPE_CHECKING:
    from lbi_icl.index.load import ExampleIndex
    from lbi_icl.prompts import PromptSet
    from lbi_icl.retrieval.base import Retriever
    from lbi_icl.retrieval.config import RetrievalConfig

_CLASSES = {s.name: (s.module, s.cls) for s in STRATEGY_TABLE}


def make_retriever(
    strategy: str,
    index: ExampleIndex | None,
    config: RetrievalConfig | None = None,
    prompts: PromptSet | None = None,
) -> Retriever:
    """A retriever for `strategy` over `index` ('none' accepts index=None); `prompts`: the
    query writer's templates (default: the packaged ones)."""
    if strategy not in _CLASSES:
        raise ValueError(f"unknown retrieval strategy {strategy!r}; choose from {STRATEGIES}")
    if strategy != "none" and index is None:
        raise ValueError(f"retrieval strategy {strategy!r} needs an index (use 'none' without)")
    module, cls = _CLASSES[strategy]
    retriever = getattr(importlib.import_module(module), cls)(index, config)
    if prompts is not None:
        retriever.prompts = prompts
    return retriever  # type: ignore[no-any-return]


_EXPORTS = {
    "RetrievalConfig": "lbi_icl.retrieval.config",
    "Retriever": "lbi_icl.retrieval.base",
    "StepContext": "lbi_icl.retrieval.base",
    "RetrievedItem": "lbi_icl.retrieval.base",
    "RetrievalResult": "lbi_icl.retrieval.base",
    "render_item": "lbi_icl.retrieval.render",
    "render_reference": "lbi_icl.retrieval.render",
    "template_query": "lbi_icl.retrieval.model",
}

__all__ = ["STRATEGIES", "make_retriever", *sorted(_EXPORTS)]


__getattr__ = lazy_getattr(globals(), _EXPORTS)
