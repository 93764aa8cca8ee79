"""Proposed faster drop-ins for hot spots this benchmark found in `lbi_icl.index`. Not used
by the library; `check_proposed.py` checks them against it (same output) and times both.

1. Build: bm25s' `build_index_from_ids` loops over documents in Python three times (lengths,
   document frequencies via set intersection, per-document counts). Sorting (token, doc)
   keys once with numpy gives the same CSC matrix (tokens as columns, doc ids as row
   indices, float32 scores, int64 indptr) that bm25s saves and loads, so the on-disk format
   is unchanged (`build_bm25s`, checked identical on 10k and 100k observations).
2. Query (approximate, opt-in): `capped_top_k` scores only the rarest query terms, bounding
   the postings a long observation query touches.

Both keep bm25s' Lucene/Robertson formulas: idf = log(1 + (N - df + 0.5) / (df + 0.5))
(lucene) and tfc = tf / (tf + k1 * (1 - b + b * |d| / avgdl)).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lbi_icl.index.bm25 import BM25Params, _rank
from lbi_icl.index.tokenize import tokenize


def _idf(df: np.ndarray, n: int, method: str) -> np.ndarray:
    if method == "lucene":
        return np.log1p((n - df + 0.5) / (df + 0.5))
    if method == "robertson":
        return np.log(np.maximum((n - df + 0.5) / (df + 0.5), 1.0))
    raise ValueError(f"proposed build supports lucene/robertson, not {method!r}")


def build_bm25s(texts: Iterator[str] | Sequence[str], out: Path, params: BM25Params) -> int:
    """Drop-in for `lbi_icl.index.bm25.build_bm25s`: same tokens, formula and files."""
    import bm25s

    from lbi_icl.index import bm25 as original

    if params.method not in ("lucene", "robertson"):
        return original.build_bm25s(texts, out, params)
    vocab: dict[str, int] = {}
    ids = array("i")  # 4 bytes per token instead of an 8-byte list slot
    offsets = array("q", [0])
    for text in texts:
        ids.extend([vocab.setdefault(t, len(vocab)) for t in tokenize(text)])
        offsets.append(len(ids))
    n_docs = len(offsets) - 1
    if not ids:  # no documents, or none with a token: the original handles the edge cases
        return original.build_bm25s([""] * n_docs, out, params)
    flat = np.frombuffer(ids, dtype=np.int32)
    lengths = np.diff(np.frombuffer(offsets, dtype=np.int64))
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    keys = flat.astype(np.int64) * n_docs + doc  # sorts by token, then document
    del doc
    keys, tf = np.unique(keys, return_counts=True)
    tok = keys // n_docs
    rows = (keys - tok * n_docs).astype(np.int32)
    del keys
    df = np.bincount(tok, minlength=len(vocab))
    idf = _idf(df.astype(np.float64), n_docs, params.method).astype(np.float32)
    avg = float(lengths.mean())
    dl = lengths[rows].astype(np.float32)
    tf = tf.astype(np.float32)
    k1, b = np.float32(params.k1), np.float32(params.b)
    data = idf[tok] * (tf / (k1 * ((1 - b) + b * dl / np.float32(avg)) + tf))
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    model = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
    model.scores = {
        "data": data.astype(np.float32),
        "indices": rows,
        "indptr": indptr,
        "num_docs": n_docs,
    }
    model.vocab_dict = vocab
    model.nonoccurrence_array = None  # set by bm25s' own build; lucene/robertson need none
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out), show_progress=False, allow_pickle=False)
    return n_docs


def patch() -> None:
    """Install the build drop-in into lbi_icl (this process only)."""
    import lbi_icl.index.build as build_mod

    build_mod.build_bm25s = build_bm25s  # type: ignore[assignment]


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
