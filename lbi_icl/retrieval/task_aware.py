"""`task_aware`: BM25 candidates over the current observation (+ the last action), re-ranked
by a fused score (see `fused_config` for the formula and weights) so that steps of the
agent's own kind of task, whose next action is about things the agent can see, come first.

Per episode (cached by instruction and task id): the cosine of the agent's instruction with
every example instruction, and a task-family prior: the family of the agent's task id when
the index has examples of it (Synapse-style task metadata: ScienceWorld 'boil/3' -> 'boil',
BabyAI 'BabyAI-GoToLocal-v0/seed-7' -> the level), else the labels of the `task_vote_k`
allowed examples nearest to the instruction (`TaskAwareConfig.task_prior`). Per step: one
BM25 top-`pool` call and vectorized scoring of the pool; no per-step embedding. A hit is
the candidate's example with its window around the matched step (`m1` hits per step, the
usual selection rules of `retrieval.select`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from lbi_icl.index.bm25 import block_bound_rows
from lbi_icl.index.build import task_label
from lbi_icl.index.load import ExampleIndex
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.action_table import action_table
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.common import BaseRetriever, observation_fetch, step_hits
from lbi_icl.retrieval.family_vote import family_table
from lbi_icl.retrieval.fused_config import TaskAwareConfig
from lbi_icl.retrieval.select import Hit, Selector, collect, interleave

_WORDS = re.compile(r"[a-z0-9]+")
# words that name the kind of action rather than what it acts on
_VERBISH = frozenset(
    {"up", "down", "on", "off", "in", "into", "out", "at", "to", "from", "left", "right"}
    | {"forward", "back", "backward", "around", "over", "the", "a", "an", "of", "with"}
)


@lru_cache(maxsize=65536)
def object_words(action: str) -> frozenset[str]:
    """The words of an action after its verb (and particles): what it acts on.
    'pick up thermometer' -> {'thermometer'}; 'go forward' -> {}."""
    words = _WORDS.findall(action.lower())
    return frozenset(w for w in words[1:] if w not in _VERBISH)


def grounding(actions: list[str], context: frozenset[str], empty: float = 1.0) -> np.ndarray:
    """Per action: the share of its object words found in `context` (`empty` when it names
    no object)."""
    out = np.empty(len(actions), dtype=np.float64)
    for i, a in enumerate(actions):
        words = object_words(a)
        out[i] = len(words & context) / len(words) if words else empty
    return out


def context_words(ctx: StepContext, steps: int = 3) -> frozenset[str]:
    """Words the agent has seen: instruction, current observation, recent steps."""
    parts = [ctx.instruction, ctx.observation]
    for s in ctx.history[-steps:]:
        parts += [s.observation, s.action]
    words: set[str] = set()
    for p in parts:
        words |= set(_WORDS.findall(p.lower()))
    return frozenset(words)


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores (ties by lower index), in that order. The exact
    selection runs over `block_bound_rows` only (at 1M rows a partition of all of them took
    ~9 ms a call, the fused strategies' largest cost)."""
    n = len(scores)
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        cand = block_bound_rows(scores, k)
        part = scores[cand]
        kth = part[np.argpartition(-part, k - 1)[k - 1]]
        above = cand[part > kth]
        tied = cand[part == kth][: k - len(above)]  # lowest rows among ties
        cand = np.concatenate([above, tied])
    else:
        cand = np.arange(n)
    order = np.lexsort((cand, -scores[cand]))
    return cand[order][:k].astype(np.int64)


def family_code(index: ExampleIndex, task_id: str | None) -> int | None:
    """The index's label code of the task family a task id names, None when it names none
    the index knows: the id without its last '/' part ('boil/3' -> 'boil'), else the
    longest run of its '/'-parts that is a known family ('scienceworld/expert/boil/21' ->
    'boil'), so ids written by other tools still find their family."""
    if not task_id:
        return None
    code = index.meta_code("label", task_label(task_id, {}))
    if code is not None:
        return code
    parts = [p for p in task_id.split("/") if p]
    for length in range(len(parts), 0, -1):
        for start in range(len(parts) - length + 1):
            code = index.meta_code("label", "/".join(parts[start : start + length]))
            if code is not None:
                return code
    return None


def bm25_query(ctx: StepContext, last_action: bool) -> str:
    if last_action and ctx.history:
        return f"{ctx.observation}\n{ctx.history[-1].action}"
    return ctx.observation


class TaskAwareRetriever(BaseRetriever):
    name = "task_aware"

    def __init__(self, index: ExampleIndex | None, config=None):  # type: ignore[no-untyped-def]
        super().__init__(index, config)
        self._episode: tuple[tuple[str, str | None, str | None], np.ndarray, np.ndarray] | None
        self._episode = None
        self._family: int | None = None  # the agent's family: named by its task id, or voted
        self._full: np.ndarray | None = None  # this step's BM25 score of every step row
        empty = np.zeros(0, dtype=np.int64)
        self._pool: tuple[np.ndarray, np.ndarray] = (empty, empty.astype(np.float64))

    @property
    def settings(self) -> TaskAwareConfig:
        return self.config.task_aware

    # -- per episode ------------------------------------------------------------------
    def episode_terms(self, ctx: StepContext) -> tuple[np.ndarray, np.ndarray]:
        """(instruction cosine per example, prior per label code), cached per instruction."""
        key = (ctx.instruction, ctx.env, ctx.task_id)
        if self._episode is not None and self._episode[0] == key:
            return self._episode[1], self._episode[2]
        index = self._need_index()
        s = self.settings
        sims = np.asarray(index.dense_scores("instruction", ctx.instruction), dtype=np.float64)
        n_codes = len(index.meta_values.get("label", [])) or 1
        prior = np.zeros(n_codes, dtype=np.float64)
        code = family_code(index, ctx.task_id)
        family = None
        if s.task_prior != "vote" and code is not None:
            prior[code] = 1.0
            family = code
        elif s.task_prior != "metadata":
            if s.vote_by == "roots":
                prior = family_table(index).prior(ctx.instruction, n_codes, s.vote_roots)
            else:
                prior = self.example_vote(ctx, sims, n_codes)
            if len(prior) and prior.max() >= s.vote_family_min:
                family = int(np.argmax(prior))
        self._episode = (key, sims, prior)
        self._family = family
        return sims, prior

    def example_vote(self, ctx: StepContext, sims: np.ndarray, n_codes: int) -> np.ndarray:
        """The prior from the labels of the `task_vote_k` allowed examples whose own
        instructions are nearest to the agent's (`vote_by="examples"`)."""
        index = self._need_index()
        labels = index.meta_column("label")
        allowed = np.flatnonzero(self.mask(ctx))
        prior = np.zeros(n_codes, dtype=np.float64)
        if not len(allowed):
            return prior
        k = min(self.settings.task_vote_k, len(allowed))
        part = sims[allowed]
        top = allowed[np.argpartition(-part, k - 1)[:k]] if k < len(allowed) else allowed
        counts = np.bincount(np.asarray(labels[top], dtype=np.int64), minlength=n_codes)
        none_code = index.meta_code("label", None)
        if none_code is not None:
            counts[none_code] = 0
        return counts / counts.sum() if counts.sum() else prior

    # -- per step ---------------------------------------------------------------------
    def extra_terms(self, ctx: StepContext, rows: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
        """Additional weighted score per candidate (subclasses); None: nothing to add."""
        return None

    def extra_rows(self, ctx: StepContext) -> list[np.ndarray]:
        """More candidate step rows besides BM25's top `pool`, in groups (each group joins
        with its best `pool` rows by BM25): with `family_candidates`, the rows of the
        agent's task family when its task id names one the index knows (or the vote
        found one, `vote_family_min`)."""
        if not self.settings.family_candidates:
            return []
        self.episode_terms(ctx)
        if self._family is None:
            return []
        return [action_table(self._need_index()).rows_of_label(self._family)]

    def pool_rows(self, ctx: StepContext, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, BM25 scores): BM25's top `pool` step rows plus the best `pool` of each
        group of `extra_rows`. Extra rows need the whole score vector, which the bm25s
        engine gives; with rank-bm25 only the top `pool` is used."""
        index = self._need_index()
        engine = index.bm25("observation")
        pool = self.settings.pool
        groups = [g for g in self.extra_rows(ctx) if len(g)]
        scores_of = getattr(engine, "scores", None)
        self._full = None
        if not groups or scores_of is None:
            rows, scores = engine.top_k(query, pool)
            return np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float64)
        qids = engine.query_ids(query)  # type: ignore[attr-defined]
        full = scores_of(qids) if qids else np.zeros(index.n_steps, dtype=np.float32)
        self._full = full
        top = top_rows(full, pool)
        parts = [top[full[top] > 0]]
        for g in groups:
            parts.append(g[top_rows(full[g], pool)] if len(g) > pool else g)
        rows = np.unique(np.concatenate(parts))
        return rows, full[rows].astype(np.float64)

    def grounded_rows(
        self, ctx: StepContext, pool: np.ndarray, fused: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """Workflow step, objects from the agent (`grounded_candidates`): the verbs of the
        `grounded_from` best candidates, and every action in the index with one of those
        verbs whose object words are all in the agent's context ('examine *mercury*' when
        the pool only shows 'examine lead'); their step rows (the best `pool` by BM25)."""
        s = self.settings
        index = self._need_index()
        table = action_table(index)
        best = rows[np.argsort(-fused, kind="stable")[: s.grounded_from]]
        words = context_words(ctx)
        codes = [
            int(c)
            for v in np.unique(table.verb_codes[best])
            for c in table.codes_of_verb(int(v))
            if (obj := object_words(table.texts[int(c)])) and obj <= words
        ]
        if not codes:
            return np.zeros(0, dtype=np.int64)
        cand = np.setdiff1d(np.concatenate([table.rows_of_code(c) for c in codes]), pool)
        full = self._full
        if len(cand) > s.pool:
            cand = cand[top_rows(full[cand], s.pool)] if full is not None else cand[: s.pool]
        return cand

    def fuse(
        self, ctx: StepContext, rows: np.ndarray, scores: np.ndarray, top: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, examples, positions, fused scores) of the allowed candidates; `top`
        normalizes BM25."""
        index = self._need_index()
        s = self.settings
        sims, prior = self.episode_terms(ctx)
        ex = np.asarray(index.step_example[rows], dtype=np.int64)
        keep = self.mask(ctx)[ex]
        rows, ex, scores = rows[keep], ex[keep], np.asarray(scores, dtype=np.float64)[keep]
        pos = np.asarray(index.step_pos[rows], dtype=np.int64)
        fused = s.w_bm25 * (scores / top if top > 0 else scores)
        if not len(rows):
            return rows, ex, pos, fused
        if s.w_instruction:
            fused += s.w_instruction * sims[ex]
        if s.w_task:
            fused += s.w_task * prior[np.asarray(index.meta_column("label")[ex], dtype=np.int64)]
        if s.w_ground:
            table = action_table(index)
            uniq, inv = np.unique(table.codes[rows], return_inverse=True)
            per_code = grounding([table.texts[int(c)] for c in uniq], context_words(ctx))
            fused += s.w_ground * per_code[inv]
        extra = self.extra_terms(ctx, rows, pos)
        if extra is not None:
            fused += extra
        return rows, ex, pos, fused

    def bm25_fetch(self, query: str) -> Callable[[int], list[Hit]]:
        """The step's candidate pool ranked by its BM25 score alone (ties by step row), as
        observation hits: the plain BM25 ranking at no second scoring of the index."""
        index = self._need_index()
        rows, scores = self._pool
        order = np.lexsort((rows, -scores))
        rows, scores = rows[order], scores[order]

        # only the hits asked for (the pool holds ~1k rows)
        return lambda k: step_hits(index, rows[:k], scores[:k], "observation", query)

    def candidates(self, ctx: StepContext, query: str) -> list[Hit]:
        """The pool, scored and sorted by the fused score (ties by step row)."""
        rows0, scores0 = self.pool_rows(ctx, query)
        self._pool = (rows0, np.asarray(scores0, dtype=np.float64))
        if len(rows0) == 0:
            return []
        top = float(np.max(scores0))
        rows, ex, pos, fused = self.fuse(ctx, rows0, scores0, top)
        if len(rows) and self.settings.grounded_candidates:
            more = self.grounded_rows(ctx, rows0, fused, rows)
            if len(more):
                full = self._full
                more_scores = full[more] if full is not None else np.zeros(len(more))
                rows, ex, pos, fused = self.fuse(
                    ctx,
                    np.concatenate([rows0, more]),
                    np.concatenate([np.asarray(scores0, dtype=np.float64), more_scores]),
                    top,
                )
        if len(rows) == 0:
            return []
        order = np.lexsort((rows, -fused))
        return [
            Hit(int(ex[j]), float(fused[j]), self.name, query, None, int(pos[j])) for j in order
        ]

    def _select(
        self, ctx: StepContext, llm: LLM | None
    ) -> tuple[list[RetrievedItem], dict[str, str]]:
        index = self._need_index()
        query = bm25_query(ctx, self.settings.query_last_action)
        hits = self.candidates(ctx, query)
        selector = Selector(index, self.config, ctx, self.mask(ctx))
        cap = self.settings.action_cap
        plain = math.floor(self.config.m1 * self.settings.observation_share + 1e-9)
        fused_slots = self.config.m1 - plain
        if cap is None:
            items = collect(
                lambda k: hits[:k], fused_slots, selector, overfetch=self.config.overfetch
            )
        else:
            items = action_diverse(hits, fused_slots, selector, cap, index)
        if plain:  # BM25 alone fills the rest (no example twice)
            if self.settings.observation_query == "observation":
                fetch = observation_fetch(index, ctx.observation)
            else:
                fetch = self.bm25_fetch(query)
            more = self.select_examples(fetch, plain, selector, index.n_steps)
            items = interleave(items, more)
        return items, {"observation": query, "instruction": ctx.instruction}


def action_diverse(
    hits: list[Hit], want: int, selector: Selector, cap: int, index: ExampleIndex
) -> list[RetrievedItem]:
    """Admit hits in rank order, but at most `cap` whose next action (at the matched step,
    whitespace and case collapsed) is the same: k slots then show up to k different next
    actions instead of k copies of the top one."""
    out: list[RetrievedItem] = []
    counts: dict[int, int] = {}
    table = action_table(index)
    for hit in hits:
        if len(out) >= want:
            break
        row = int(index.example_steps[hit.idx]) + int(hit.matched_step or 0)
        action = int(table.codes[row])
        if counts.get(action, 0) >= cap:
            continue
        item = selector.admit(hit)
        if item is not None:
            out.append(item)
            counts[action] = counts.get(action, 0) + 1
    return out


__all__ = [
    "TaskAwareRetriever",
    "action_diverse",
    "bm25_query",
    "context_words",
    "grounding",
    "object_words",
]
