"""rank-bm25 vs bm25s on one corpus with one tokenization: build time, top-k query latency
and how much their top-k agree (a sanity check that the fast engine ranks like the
reference one)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np
from benchstats import Latency, latency
from pydantic import BaseModel

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(texts: Sequence[str], stopwords: frozenset[str] | None = None) -> list[list[str]]:
    """Lowercase, words of 2+ word characters, bm25s's English stopword list removed — the
    same lists feed both engines, so only the engines differ."""
    stop = _stopwords() if stopwords is None else stopwords
    return [[t for t in _TOKEN.findall(text.lower()) if t not in stop] for text in texts]


class EngineResult(BaseModel):
    engine: str
    n_docs: int
    build_s: float
    query: Latency
    n_queries: int


class EngineComparison(BaseModel):
    n_docs: int
    k: int
    tokenize_s: float
    mean_query_tokens: float
    engines: list[EngineResult]
    overlap_at_k: dict[str, float]  # bm25s variant -> mean |top-k ∩ rank-bm25 top-k| / k
    top1_agree: dict[str, float]


def _bm25s_index(corpus: list[list[str]], method: str) -> object:
    import bm25s

    index = bm25s.BM25(method=method)
    index.index(corpus, show_progress=False)
    return index


def _bm25s_topk(index: object, query: list[str], k: int) -> list[int]:
    docs, _ = index.retrieve([query], k=k, show_progress=False, n_threads=1)  # type: ignore[attr-defined]
    return [int(d) for d in docs[0]]


def _rank_topk(index: object, query: list[str], k: int) -> list[int]:
    scores = np.asarray(index.get_scores(query))  # type: ignore[attr-defined]
    top = np.argpartition(-scores, k)[:k]
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]


def compare_engines(
    docs: Sequence[str],
    queries: Sequence[str],
    *,
    k: int = 5,
    n_queries_bm25s: int = 200,
    n_queries_rank: int = 50,
) -> EngineComparison:
    """Build both engines over `docs`, time `k`-NN queries one at a time, compare top-k.

    rank-bm25 scores every document in Python per query, so it gets fewer queries; overlaps
    are computed on the queries both engines answered. Two pairings are compared:
    `bm25s/lucene` (bm25s's default) against rank-bm25's default BM25Okapi, and
    `bm25s/robertson` against BM25Okapi with epsilon=0 — the same formula (idf of a term in
    more than half of the documents floored at 0), so it should agree up to float32 ties.
    """
    from rank_bm25 import BM25Okapi

    t0 = time.perf_counter()
    corpus = tokenize(docs)
    qtoks = tokenize(queries[: max(n_queries_bm25s, n_queries_rank)])
    tok_s = time.perf_counter() - t0
    results: list[EngineResult] = []
    tops: dict[str, list[list[int]]] = {}

    for name, eps in (("rank-bm25", 0.25), ("rank-bm25/eps0", 0.0)):
        t0 = time.perf_counter()
        rank = BM25Okapi(corpus, epsilon=eps)  # k1=1.5, b=0.75 like bm25s
        build = time.perf_counter() - t0
        times, hits = [], []
        for q in qtoks[:n_queries_rank]:
            t = time.perf_counter()
            hits.append(_rank_topk(rank, q, k))
            times.append(time.perf_counter() - t)
        tops[name] = hits
        if eps:  # time the default configuration only; the eps=0 copy is for agreement
            results.append(
                EngineResult(
                    engine="rank-bm25 (BM25Okapi)",
                    n_docs=len(docs),
                    build_s=build,
                    query=latency(times),
                    n_queries=len(times),
                )
            )
        del rank

    for method in ("lucene", "robertson"):
        t0 = time.perf_counter()
        index = _bm25s_index(corpus, method)
        build = time.perf_counter() - t0
        times, hits = [], []
        for q in qtoks[:n_queries_bm25s]:
            t = time.perf_counter()
            hits.append(_bm25s_topk(index, q, k))
            times.append(time.perf_counter() - t)
        tops[f"bm25s/{method}"] = hits
        results.append(
            EngineResult(
                engine=f"bm25s ({method})",
                n_docs=len(docs),
                build_s=build,
                query=latency(times),
                n_queries=len(times),
            )
        )

    overlap: dict[str, float] = {}
    top1: dict[str, float] = {}
    for name, ref_name in (("bm25s/lucene", "rank-bm25"), ("bm25s/robertson", "rank-bm25/eps0")):
        ref = tops[ref_name]
        pairs = list(zip(ref, tops[name][: len(ref)], strict=True))
        key = f"{name} vs {ref_name}"
        overlap[key] = float(np.mean([len(set(a) & set(b)) / k for a, b in pairs]))
        top1[key] = float(np.mean([a[0] == b[0] for a, b in pairs]))
    return EngineComparison(
        n_docs=len(docs),
        k=k,
        tokenize_s=tok_s,
        mean_query_tokens=float(np.mean([len(q) for q in qtoks])),
        engines=results,
        overlap_at_k=overlap,
        top1_agree=top1,
    )
