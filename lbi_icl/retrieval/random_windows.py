"""`random`: a control, not a method. Every step, m1 step windows drawn uniformly at random
from the index, shaped and budgeted exactly like `observation`'s hits. Set beside
`observation` and `agentic`, it tells what the examples' format alone is worth (a model that
learns the action syntax from any example) from what choosing them by relevance adds."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from lbi_icl.index.load import ExampleIndex
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever, step_hits
from lbi_icl.retrieval.select import Hit, Selector


def step_seed(ctx: StepContext) -> int:
    """The same draw for the same (env, task, step) in every process and on every rerun
    (Python's hash() is salted per process, so it cannot be used)."""
    key = f"{ctx.env}|{ctx.task_id}|{ctx.step}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little")


def random_fetch(index: ExampleIndex, seed: int) -> Callable[[int], list[Hit]]:
    """Step rows in one seeded random order; `fetch(k)` is its first k (a prefix, as
    `collect` expects of a ranked source)."""
    order = np.random.default_rng(seed).permutation(index.n_steps)

    def fetch(k: int) -> list[Hit]:
        rows = order[:k]
        return step_hits(index, rows, np.zeros(len(rows)), "random", "")

    return fetch


class RandomRetriever(BaseRetriever):
    name = "random"

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        selector = Selector(index, self.config, ctx, self.mask(ctx))
        fetch = random_fetch(index, step_seed(ctx))
        items = self.select_examples(fetch, self.config.m1, selector, index.n_steps)
        return items, {}
