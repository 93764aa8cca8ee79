"""The two query engines: `Bm25sIndex` (a saved bm25s index, memory-mapped, exact hybrid
sparse/dense scoring) and `RankBm25Index` (rank-bm25 over the same tokens, the reference)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lbi_icl.index.bm25.builder import LENGTHS_FILE, TF_FILE
from lbi_icl.index.bm25.cache import DENSE_DF_FRAC, DenseColumns, _cache_bytes
from lbi_icl.index.bm25.params import BM25Params
from lbi_icl.index.bm25.rank import _rank
from lbi_icl.index.content import ContentChecks, PostingChecks
from lbi_icl.index.errors import IndexFormatError
from lbi_icl.index.npyio import read_json
from lbi_icl.util.tokenizer import tokenize

log = logging.getLogger(__name__)

# read piecewise (one query term's slice at a time): checked per slice, not whole at load
_PIECEWISE = ("data.csc.index.npy", "indices.csc.index.npy")
# read only by `add` (which checks them whole there), never by a query
_APPEND_ONLY = (TF_FILE, LENGTHS_FILE)
_SCORE_BLOCK = 1 << 17  # rows per block when summing dense columns (accumulator in cache)
# Warn at load when the index's common terms need this many times the dense-column cache.
CACHE_SHORT_FACTOR = 4


class Bm25sIndex:
    """A saved bm25s index, loaded memory-mapped.

    Scoring is exact and hybrid: query terms in more than `dense_df_frac` of the rows are
    added as dense columns (`DenseColumns`, at most `dense_cache_bytes`, default
    `DENSE_CACHE_MB` MiB or env `LBI_BM25_DENSE_CACHE_MB`), the others posting by posting.
    Every row's sum is taken in float32 in query-term order, as bm25s sums, so the scores
    are bit for bit bm25s' own.
    """

    def __init__(
        self,
        folder: Path,
        expected_rows: int,
        *,
        dense_df_frac: float = DENSE_DF_FRAC,
        dense_cache_bytes: int | None = None,
        content: ContentChecks | None = None,
    ):
        """`content`: the index's checksums: the small files are checked whole now, each
        term's postings and scores the first time a query reads them."""
        import bm25s

        params_path = folder / "params.index.json"
        read_json(params_path)  # clear error on a missing / truncated params file
        read_json(folder / "vocab.index.json")
        for name in ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"):
            if not (folder / name).exists():
                raise IndexFormatError(f"{folder / name}: missing index file")
        if content is not None:
            for rel in content.files:
                if rel.startswith(f"{folder.name}/") and not rel.endswith(
                    _PIECEWISE + _APPEND_ONLY
                ):
                    content.whole(rel)
        try:
            self._model = bm25s.BM25.load(
                str(folder), mmap=True, allow_pickle=False, show_progress=False
            )
        except Exception as e:
            raise IndexFormatError(f"{folder}: cannot load bm25s index ({e})") from e
        self._vocab: dict[str, int] = self._model.vocab_dict
        self._n = int(self._model.scores["num_docs"])
        # Plain ndarray views of the memory-mapped CSC arrays (cheap slicing).
        sc = self._model.scores
        self._data = np.asarray(sc["data"]).view(np.ndarray)
        self._indices = np.asarray(sc["indices"]).view(np.ndarray)
        self._indptr = np.asarray(sc["indptr"]).view(np.ndarray)
        self._postings: PostingChecks | None = None
        if content is not None:
            sizes = {_PIECEWISE[0]: self._data.itemsize, _PIECEWISE[1]: self._indices.itemsize}
            self._postings = PostingChecks(content, folder, sizes)
        if self._n != expected_rows:
            raise IndexFormatError(
                f"{params_path}: {self._n} documents, manifest says {expected_rows}"
            )
        from lbi_icl.index.invariants import check_csc

        check_csc(folder, self._data, self._indices, self._indptr, self._n, len(self._vocab))
        cap = _cache_bytes() if dense_cache_bytes is None else max(0, dense_cache_bytes)
        self.dense = DenseColumns(
            self._data, self._indices, self._indptr, self._n, cap, self._postings
        )
        # a posting list at least this long is scored as a dense column (never when the
        # cache cannot hold one column: rebuilding it every query would cost more)
        self.dense_min_df = max(1, math.floor(self._n * dense_df_frac) + 1)
        if cap < 4 * self._n:
            self.dense_min_df = self._n + 1
        self.dense_terms = int((np.diff(self._indptr) >= self.dense_min_df).sum())
        need = 4 * self._n * self.dense_terms
        if need > CACHE_SHORT_FACTOR * cap:  # (no dense terms when no column fits)
            log.warning(
                "%s: its %d common terms need %.0f MiB of dense score columns and the cache "
                "holds %.0f MiB: observation queries will rebuild evicted columns (10M pairs: "
                "718 ms p50 at 512 MiB, 194 ms at 4 GiB). Set LBI_BM25_DENSE_CACHE_MB to the "
                "memory each process can spare.",
                folder,
                self.dense_terms,
                need / 2**20,
                cap / 2**20,
            )

    def __len__(self) -> int:
        return self._n

    def query_ids(self, query: str) -> list[int]:
        """The query's distinct known terms, as sorted term ids (the order scores are summed)."""
        return sorted({self._vocab[t] for t in tokenize(query) if t in self._vocab})

    def top_k(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        qids = self.query_ids(query)
        if not qids or self._n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return _rank(self.scores(qids), k)

    def scores(self, qids: list[int]) -> np.ndarray:
        """Sum of the precomputed per-(row, term) BM25 scores of the query terms `qids`, in
        float32, term by term in the order of `qids`: bm25s' own computation (its scorers
        add each posting into a float32 row score in query-term order), so equal bit for
        bit to `bm25s.BM25.get_scores(qids)`. Common terms (see class doc) are added as
        cached dense columns, block by block; the rest posting by posting (`np.add.at`).
        Summing in float32 rather than float64 made the dense part 2.5x faster at 1M rows
        (no widening of each column; benchmarks/retrieval/README.md)."""
        ip, n = self._indptr, self._n
        acc = np.zeros(n, dtype=np.float32)
        dense: list[np.ndarray] = []
        for q in [*qids, -1]:
            a, b = (int(ip[q]), int(ip[q + 1])) if q >= 0 else (0, 0)
            if q >= 0 and b - a >= self.dense_min_df:
                dense.append(self.dense.get(q))
                continue
            if self._postings is not None and b > a:
                self._postings.check(a, b)
            if dense:  # a run of dense terms: add them before the next sparse term
                for s in range(0, n, _SCORE_BLOCK):
                    blk = acc[s : s + _SCORE_BLOCK]
                    for col in dense:
                        np.add(blk, col[s : s + _SCORE_BLOCK], out=blk)
                dense = []
            if b > a:  # add.at's fast loop needs intp rows
                rows = self._indices[a:b].astype(np.intp)
                np.add.at(acc, rows, self._data[a:b].astype(np.float32, copy=False))
        return acc


class RankBm25Index:
    """Reference engine: rank-bm25's BM25Okapi over the same tokens (rebuilt in memory)."""

    def __init__(self, texts: Sequence[str] | Iterator[str], params: BM25Params):
        from rank_bm25 import BM25Okapi

        corpus = [tokenize(t) for t in texts]
        self._n = len(corpus)
        # BM25Okapi divides by the corpus size; keep an empty index usable.
        self._model = BM25Okapi(corpus or [[""]], k1=params.k1, b=params.b)
        df: dict[str, int] = {}
        for doc in corpus:
            for tok in set(doc):
                df[tok] = df.get(tok, 0) + 1
        n = max(1, self._n)
        self._model.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def __len__(self) -> int:
        return self._n

    def top_k(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        toks = tokenize(query)
        if not toks or self._n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # Score each distinct query term once, as bm25s does.
        scores = self._model.get_scores(sorted(set(toks)))
        return _rank(np.asarray(scores, dtype=np.float32), k)
