"""Proposed query-side changes for the BM25 hot spot this benchmark found in
`lbi_icl.index.bm25.Bm25sIndex.top_k` (not used by the library; `check_proposed.py`
measures them against it on a built index: latency and overlap of the top-5).

Exhaustive BM25 scoring costs the summed posting-list length of the query's distinct
terms. An observation used as a query has ~45 distinct terms, and environment boilerplate
("This room is called ...", "you see", "You also see") puts several of them in nearly
every observation, so one query touches ~10 % of all postings (6.7M of 64.5M at 1M rows).

- `common_term_skip_top_k`: ignore query terms present in more than half of the rows.
- `capped_top_k`: keep only the rarest `max_terms` query terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lbi_icl.index.bm25.rank import _rank
from lbi_icl.util.tokenizer import tokenize


def capped_top_k(
    index: Any, query: str, k: int, max_terms: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate `Bm25sIndex.top_k`: score only the `max_terms` rarest (highest-idf) query
    terms. Long observations as queries carry ~80 distinct terms, the frequent ones with
    posting lists covering much of the index; they cost most of the time and move the
    ranking little. Trades exactness for a bounded number of postings per query."""
    qids = sorted({index._vocab[t] for t in tokenize(query) if t in index._vocab})
    if not qids or index._n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    ip = index._indptr
    if len(qids) > max_terms:
        lens = np.asarray([ip[q + 1] - ip[q] for q in qids])
        qids = sorted(np.asarray(qids)[np.argsort(lens, kind="stable")[:max_terms]].tolist())
    return _rank(index.scores(qids), k)


def common_term_skip_top_k(
    index: Any, query: str, k: int, max_df_frac: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate `Bm25sIndex.top_k`: ignore query terms found in more than `max_df_frac`
    of the rows (environment boilerplate such as "room", "called", "see" in every
    observation). Their Lucene idf is at most log(1 + (1 - f) / f) (0.69 at f = 0.5), they
    add nearly the same amount to most rows, yet their posting lists are most of the work."""
    qids = sorted({index._vocab[t] for t in tokenize(query) if t in index._vocab})
    if not qids or index._n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    ip = index._indptr
    limit = max_df_frac * index._n
    kept = [q for q in qids if ip[q + 1] - ip[q] <= limit] or qids
    return _rank(index.scores(kept), k)
