"""Exact, deterministic top-k over a score vector: block-maxima candidates, then a sort
(highest score first, lower row first on ties, zeros dropped)."""

from __future__ import annotations

import numpy as np

_BLOCK = 1024


def top_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows that may be among the `k` best of `scores` (a superset of the top k, ties
    included), cheaply: `block_bound_rows` where k is small beside the row count (usually a
    handful of rows), else every row."""
    if k > 0 and k * _BLOCK * 4 > len(scores):
        return np.arange(len(scores), dtype=np.int64)
    return block_bound_rows(scores, k)


def block_bound_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows (in row order) holding the k largest scores and every row tied with the k-th:
    those at or above the k-th largest of the per-block maxima (blocks of 1024 rows) — k
    blocks each hold a row that high, so the k-th largest score is at least that. Every
    row when there are fewer than k blocks (or few rows)."""
    n = len(scores)
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    blocks = n // _BLOCK
    if n <= 8 * _BLOCK or blocks < k:
        return np.arange(n, dtype=np.int64)
    full = blocks * _BLOCK
    maxima = scores[:full].reshape(-1, _BLOCK).max(axis=1)
    if full < n:
        maxima = np.append(maxima, scores[full:].max())
    bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
    return np.flatnonzero(scores >= bound).astype(np.int64)


def _rank(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic top-k: highest score first, lower row id first on ties; drops zeros."""
    n = len(scores)
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    pos = top_candidates(scores, k)
    pos = pos[scores[pos] > 0]  # only rows sharing a query term count as hits
    if len(pos) > k:
        part = scores[pos]
        kth = part[np.argpartition(-part, k - 1)[k - 1]]
        # Keep every row tied with the k-th score so tie-breaking by row id is exact.
        pos = pos[part >= kth]
    order = np.lexsort((pos, -scores[pos]))
    rows = pos[order][:k]
    return rows.astype(np.int64), scores[rows].astype(np.float32)
