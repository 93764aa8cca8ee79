"""`DenseColumns`: the bounded LRU cache of dense score columns for common query terms, and
its size setting (`LBI_BM25_DENSE_CACHE_MB`)."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lbi_icl.index.content import PostingChecks

log = logging.getLogger(__name__)

DENSE_DF_FRAC = 1 / 16
"""A query term found in more than this share of the rows is scored from a dense column."""
DENSE_CACHE_MB = 512
"""Default memory cap of the dense-column cache (env `LBI_BM25_DENSE_CACHE_MB`; 0: off)."""


class DenseColumns:
    """A bounded, thread-safe LRU cache of dense float32 score columns, one per common term.

    A term in many rows costs ~12 ns a posting through `bincount` (gather, widen, scatter)
    but ~1 ns a row as a dense column added in float64: past about n/16 rows the column
    wins (measured, docs/retrieval.md). A column is built on first use from
    the CSC arrays (zeros + one scatter of the posting list, cheaper than scoring it once
    sparsely) and kept while the cache holds at most `max_bytes` (4 bytes a row a term);
    the least recently used column goes first.
    """

    def __init__(
        self,
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        n: int,
        max_bytes: int,
        postings: PostingChecks | None = None,
    ):
        self._data, self._indices, self._indptr, self._n = data, indices, indptr, n
        self._postings = postings
        self.max_bytes = max_bytes
        self._cols: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return 4 * self._n * len(self._cols)

    def __len__(self) -> int:
        return len(self._cols)

    def get(self, term: int) -> np.ndarray:
        with self._lock:
            col = self._cols.get(term)
            if col is not None:
                self._cols.move_to_end(term)
                return col
        a, b = int(self._indptr[term]), int(self._indptr[term + 1])
        if self._postings is not None:
            self._postings.check(a, b)
        col = np.zeros(self._n, dtype=np.float32)
        col[self._indices[a:b]] = self._data[a:b]  # rows are unique within a term
        if 4 * self._n <= self.max_bytes:
            with self._lock:
                self._cols[term] = col
                while self.nbytes > self.max_bytes:
                    self._cols.popitem(last=False)
        return col


def _cache_bytes() -> int:
    raw = os.environ.get("LBI_BM25_DENSE_CACHE_MB")
    try:
        mb = float(raw) if raw not in (None, "") else DENSE_CACHE_MB
    except ValueError:
        log.warning("LBI_BM25_DENSE_CACHE_MB=%r is not a number; using %d", raw, DENSE_CACHE_MB)
        mb = DENSE_CACHE_MB
    return max(0, int(mb * 2**20))
