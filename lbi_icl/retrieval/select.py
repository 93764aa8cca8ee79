"""Shared selection for every strategy: filters, leakage guard, one hit per source
trajectory, dedup, over-fetching, window alignment, reciprocal rank fusion, MMR and the
token budget. Strategies only produce ranked candidate lists; this module decides what
reaches the prompt, the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from lbi_icl.data import Trajectory
from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.config import RetrievalConfig
from lbi_icl.retrieval.render import item_tokens
from lbi_icl.util.tokenizer import token_set


@dataclass
class Hit:
    """A ranked candidate before selection."""

    idx: int  # example index (or chunk index for documents)
    score: float
    strategy: str
    query: str
    query_writer: str | None = None
    matched_step: int | None = None  # None: align the window to the current observation


def allowed_examples(index: ExampleIndex, config: RetrievalConfig, ctx: StepContext) -> np.ndarray:
    """Boolean mask over examples: metadata filters and the leakage guard."""
    mask = np.ones(index.n_examples, dtype=bool)
    envs = config.envs
    if config.same_env and ctx.env:
        envs = [ctx.env] if envs is None else [e for e in envs if e == ctx.env]
    for column, values in (
        ("env", envs),
        ("outcome", config.outcomes),
        ("kind", config.source_kinds),
    ):
        if values is None:
            continue
        codes = [c for v in values if (c := index.meta_code(column, v)) is not None]
        mask &= np.isin(index.meta_column(column), np.asarray(codes, dtype=np.int32))
    if config.leakage_guard and ctx.task_id:
        code = index.meta_code("task", ctx.task_id)
        if code is not None:
            mask &= index.meta_column("task") != code
    return mask


def align_step(traj: Trajectory, ctx: StepContext) -> int | None:
    """The example step most like the current state: most shared observation tokens, ties
    to the step closest to the agent's own step number; no overlap at all → that step."""
    n = len(traj.steps)
    if n == 0:
        return None
    cur = token_set(ctx.observation)
    best, best_key = min(ctx.step, n - 1), (0, 0)
    for i, step in enumerate(traj.steps):
        key = (len(cur & token_set(step.observation)), -abs(i - ctx.step))
        if key[0] > 0 and key > best_key:
            best, best_key = i, key
    return best


class Selector:
    """Admits hits one by one for one retrieval call, enforcing every selection rule."""

    def __init__(
        self,
        index: ExampleIndex,
        config: RetrievalConfig,
        ctx: StepContext,
        mask: np.ndarray,
        *,
        exclude: Sequence[int] = (),
    ):
        self.index, self.config, self.ctx, self.mask = index, config, ctx, mask
        self.taken: set[int] = set(exclude)
        self.roots: set[str | None] = set()
        self.texts: set[str] = set()
        for i in exclude:
            self.roots.add(index.meta("root", i))

    def admit(self, hit: Hit) -> RetrievedItem | None:
        i = hit.idx
        if i in self.taken or not self.mask[i]:
            return None
        root = self.index.meta("root", i)
        if self.config.one_per_source and root in self.roots:
            return None
        item = make_example_item(self.index, self.config, self.ctx, hit)
        key = _dedup_key(item)
        if self.config.dedup and key in self.texts:
            return None
        self.taken.add(i)
        self.roots.add(root)
        self.texts.add(key)
        return item

    def release(self, item: RetrievedItem) -> None:
        i = self.index.index_of(item.id)
        self.taken.discard(i)
        self.roots.discard(self.index.meta("root", i))
        self.texts.discard(_dedup_key(item))


def _dedup_key(item: RetrievedItem) -> str:
    steps = "\n".join(f"{s.observation}\t{s.action}" for s in item.window)
    return f"{item.instruction}\n{steps}"


def make_example_item(
    index: ExampleIndex, config: RetrievalConfig, ctx: StepContext, hit: Hit
) -> RetrievedItem:
    traj = index.get_by_idx(hit.idx)
    pos = hit.matched_step if hit.matched_step is not None else align_step(traj, ctx)
    if pos is None:
        span = (0, 0)
    else:
        span = (
            max(0, pos - config.window_before),
            min(len(traj.steps), pos + config.window_after + 1),
        )
    return RetrievedItem(
        id=traj.id,
        kind="example",
        score=float(hit.score),
        rank=0,
        strategy=hit.strategy,
        query=hit.query,
        query_writer=hit.query_writer,
        matched_step=pos,
        span=span,
        instruction=traj.instruction,
        window=list(traj.steps[span[0] : span[1]]),
    )


def collect(
    fetch: Callable[[int], list[Hit]],
    want: int,
    selector: Selector,
    *,
    overfetch: int = 4,
    limit: int | None = None,
) -> list[RetrievedItem]:
    """Admit up to `want` hits from a ranked source, fetching more (x4) while filters reject.

    `fetch(k)` returns the top-k hits (fewer when the source is exhausted); `limit` is the
    source's size.
    """
    out: list[RetrievedItem] = []
    if want <= 0:
        return out
    k, seen = max(want * overfetch, want), 0
    while True:
        hits = fetch(k)
        for hit in hits[seen:]:
            item = selector.admit(hit)
            if item is not None:
                out.append(item)
                if len(out) >= want:
                    return out
        seen = len(hits)
        if len(hits) < k or (limit is not None and k >= limit):
            return out
        k *= 4


def interleave(*parts: Sequence[RetrievedItem]) -> list[RetrievedItem]:
    """Round-robin by rank (a[0], b[0], a[1], b[1], ...; a longer part's tail at the end),
    so `finalize`'s budget, which cuts from the end, takes the lowest ranks of every part
    alike instead of the whole of the last part."""
    out: list[RetrievedItem] = []
    for i in range(max((len(p) for p in parts), default=0)):
        out.extend(p[i] for p in parts if i < len(p))
    return out


def rrf(lists: Sequence[Sequence[Hit]], k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion: score(d) = sum over lists of 1 / (k + rank); a fused hit keeps
    the first list's matched step and names every strategy that found it."""
    fused: dict[int, Hit] = {}
    scores: dict[int, float] = {}
    for hits in lists:
        seen: set[int] = set()
        rank = 0
        for hit in hits:
            if hit.idx in seen:
                continue
            seen.add(hit.idx)
            rank += 1
            scores[hit.idx] = scores.get(hit.idx, 0.0) + 1.0 / (k + rank)
            if hit.idx not in fused:
                fused[hit.idx] = Hit(**vars(hit))
            elif hit.strategy not in fused[hit.idx].strategy.split("+"):
                prev = fused[hit.idx]
                prev.strategy = f"{prev.strategy}+{hit.strategy}"
                if prev.query_writer is None:
                    prev.query_writer = hit.query_writer
    order = sorted(fused, key=lambda i: (-scores[i], i))
    out = []
    for i in order:
        h = fused[i]
        h.score = scores[i]
        out.append(h)
    return out


def mmr(
    items: list[RetrievedItem], vectors: np.ndarray, rows: list[int], want: int, lam: float
) -> list[RetrievedItem]:
    """Maximal marginal relevance: greedily pick `lam * relevance - (1 - lam) * max cosine to
    the already picked` (relevance = the item's score min-max scaled within the pool)."""
    if len(items) <= 1 or want <= 0:
        return items[:want]
    scores = np.asarray([it.score for it in items], dtype=np.float64)
    span = scores.max() - scores.min()
    rel = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    vecs = np.asarray(vectors[np.asarray(rows)], dtype=np.float32)
    sims = vecs @ vecs.T
    picked: list[int] = []
    left = list(range(len(items)))
    while left and len(picked) < want:
        best = max(
            left,
            key=lambda j: (
                lam * rel[j] - (1 - lam) * (max(sims[j, p] for p in picked) if picked else 0.0),
                -j,
            ),
        )
        picked.append(best)
        left.remove(best)
    return [items[j] for j in picked]


def finalize(
    items: list[RetrievedItem], index: ExampleIndex | None, config: RetrievalConfig
) -> tuple[list[RetrievedItem], list[RetrievedItem]]:
    """Rank the items, give each example whose window reaches its end the example's last
    observation and outcome, then fill the token budget in rank order: the first item that
    does not fit is dropped with every lower-ranked one (so the lowest ranks always go
    first). Returns (kept, dropped); the prompt builder renders the kept ones."""
    kept: list[RetrievedItem] = []
    dropped: list[RetrievedItem] = []
    used = 0
    for rank, item in enumerate(items):
        item.rank = rank
        if item.kind == "example" and index is not None and item.span is not None:
            traj = index.get(item.id)
            if item.span[1] == len(traj.steps) and traj.final_observation is not None:
                item.final_observation, item.outcome = traj.final_observation, traj.outcome
        # numbered as the prompt would number it after the items kept so far
        item.tokens = item_tokens(
            item, len(kept) + 1, observation_chars=config.max_observation_chars
        )
        if dropped or (
            config.token_budget is not None and used + item.tokens > config.token_budget
        ):
            dropped.append(item)
            continue
        used += item.tokens
        kept.append(item)
    return kept, dropped
