"""BM25 over pre-tokenized texts, behind one small interface with two engines.

- `bm25s` (default): sparse precomputed scores, saved with bm25s' own format (JSON params
  and vocabulary, `.npy` arrays written and read with `allow_pickle=False`), loaded
  memory-mapped, so a 1M-row index loads in well under a second. The matrix is built by
  `BM25Builder` (batch tokenizer + numpy), which writes exactly what bm25s' own Python-loop
  builder writes (`build_bm25s_reference`, kept as the oracle; tested equal).
- `rank-bm25` (reference): `BM25Okapi`, kept to check the fast engine. It has no file
  format of its own, so it is rebuilt from the stored texts at load time (slow; for small
  indexes and tests only).

Both use `lbi_icl.index.tokenize.tokenize`, k1=1.5, b=0.75 and the Lucene idf
`log(1 + (N - df + 0.5) / (df + 0.5))` (always positive, so a term found in most
observations still counts a little); rank-bm25's Okapi idf is replaced by that formula, so
the two engines rank the same (their scores differ by the constant factor k1 + 1).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from lbi_icl.index.store import IndexFormatError, load_npy, read_json, save_npy
from lbi_icl.index.tokenize import TOKENIZER_ID, TokenEncoder, tokenize

log = logging.getLogger(__name__)

EngineName = Literal["bm25s", "rank-bm25"]


class BM25Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: EngineName = "bm25s"
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    tokenizer: str = TOKENIZER_ID


class BM25Index(Protocol):
    def top_k(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and scores of the best `k` rows (score > 0 only), best first, ties by row."""
        ...

    def __len__(self) -> int: ...


def top_candidates(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows that may be among the `k` best of `scores` (a superset of the top k, ties
    included), cheaply: the k-th largest of the per-block maxima (blocks of 1024 rows) is a
    lower bound of the k-th largest score, since k blocks each hold a row at least that
    high. Every row at or above it is returned, in row order; usually a handful."""
    n = len(scores)
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= 8 * _BLOCK or k * _BLOCK * 4 > n:
        return np.arange(n, dtype=np.int64)
    full = n - n % _BLOCK
    maxima = scores[:full].reshape(-1, _BLOCK).max(axis=1)
    if full < n:
        maxima = np.append(maxima, scores[full:].max())
    bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
    return np.flatnonzero(scores >= bound)


_BLOCK = 1024


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


class BM25Builder:
    """Builds the bm25s score matrix with numpy instead of bm25s' per-document Python loops.

    Texts arrive in batches (`add`); each batch is tokenized at once (`TokenEncoder`) and
    reduced to (term, doc, tf) triples sorted by term, so only three int32 columns per
    distinct (doc, term) pair are kept, never a Python object per token. `save` computes
    bm25s' own formula from the corpus statistics, in bm25s' own precision (idf in float32
    via `math.log`; tf / (tf + k1 * (1 - b + b * |d| / avgdl)) in float64; the product
    rounded to float32), and scatters every batch into the CSC arrays bm25s saves: column =
    term (first-seen order), rows ascending. The result is the matrix bm25s' own
    `build_index_from_ids` produces, bit for bit (checked by a test).
    """

    def __init__(
        self, params: BM25Params, *, batch_texts: int = 8192, base: _SavedCounts | None = None
    ):
        """`base`: the counts saved with an existing index; the texts added here come after
        its documents (`extend_bm25s`)."""
        if params.method != "lucene":
            raise ValueError(f"BM25Builder computes method 'lucene' only, not {params.method!r}")
        self.params = params
        self.batch_texts = batch_texts
        self._encoder = TokenEncoder()
        self._pending: list[str] = []
        self._n_docs = 0
        self._lengths: list[np.ndarray] = []
        self._base = base
        if base is not None:
            self._encoder.seed(base.tokens)
            self._n_docs = len(base.lengths)
            self._lengths = [np.asarray(base.lengths, dtype=np.int64)]
        # per batch, its (term, doc) pairs sorted by term then doc, stored lean (about 4
        # bytes a pair): first doc, the terms present (int32) with their pair counts
        # (int32), each pair's doc within the batch and its tf (uint16 where they fit)
        self._batches: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, text: str) -> None:
        self._pending.append(text)
        if len(self._pending) >= self.batch_texts:
            self._flush()

    def add_all(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)

    def _flush(self) -> None:
        texts, self._pending = self._pending, []
        if not texts:
            return
        ids, lengths = self._encoder.encode(texts)
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        # one key per token: term in the high bits, document in the low bits
        keys, tf = np.unique((ids.astype(np.int64) << 32) | doc, return_counts=True)
        del ids, doc
        terms = keys >> 32
        first = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if len(terms) else terms
        small = np.uint16 if len(texts) <= 1 << 16 else np.uint32
        self._batches.append(
            (
                self._n_docs,
                terms[first].astype(np.int32),
                np.diff(np.r_[first, len(terms)]).astype(np.int32),
                (keys & 0xFFFFFFFF).astype(small),
                tf.astype(np.uint16 if len(tf) == 0 or tf.max() < 1 << 16 else np.uint32),
            )
        )
        self._lengths.append(lengths)
        self._n_docs += len(texts)

    def save(self, out: Path) -> int:
        """Write the bm25s index files into folder `out`. Returns the number of rows."""
        import bm25s

        self._flush()
        n_docs, k1, b = self._n_docs, self.params.k1, self.params.b
        vocab = self._encoder.vocab() or {"": 0}  # bm25s needs a non-empty vocabulary
        n_vocab = len(vocab)
        df = np.zeros(n_vocab, dtype=np.int64)
        base = self._base
        base_counts = np.zeros(0, dtype=np.int64)
        if base is not None:
            base_counts = np.diff(np.asarray(base.indptr, dtype=np.int64))[: len(base.tokens)]
            df[: len(base_counts)] += base_counts
        for _, cols, counts, _, _ in self._batches:
            df[cols] += counts
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        nnz = int(indptr[-1])
        data = np.empty(nnz, dtype=np.float32)
        indices = np.empty(nnz, dtype=np.int32)
        wide = any(b_[4].dtype == np.uint32 for b_ in self._batches)
        wide = wide or (base is not None and base.tf.dtype == np.uint32)
        tfs = np.empty(nnz, dtype=np.uint32 if wide else np.uint16)
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        if nnz:
            avgdl = lengths.mean()  # float64, as bm25s
            # bm25s: k1 * ((1 - b) + b * l_d / l_avg), in float64, per document
            norm = k1 * ((1 - b) + (b * lengths.astype(np.float64)) / avgdl)
            idf = _lucene_idf(df, n_docs)
            filled = np.zeros(n_vocab, dtype=np.int64)  # entries already placed per term
            if base is not None:
                filled[: len(base_counts)] = base_counts
                self._place_base(base, indptr, idf, norm, data, indices, tfs)
            self._batches.reverse()
            while self._batches:
                start, cols, counts, local, tf = self._batches.pop()
                first = np.cumsum(counts) - counts  # where each term's run starts
                # destination: the term's column start + what earlier batches put there
                shift = indptr[cols] + filled[cols] - first
                filled[cols] += counts
                dest = np.repeat(shift, counts) + np.arange(len(local), dtype=np.int64)
                docs = local.astype(np.int64) + start
                tf64 = tf.astype(np.float64)
                tfc = tf64 / (norm[docs] + tf64)
                data[dest] = np.repeat(idf[cols].astype(np.float64), counts) * tfc
                indices[dest] = docs
                tfs[dest] = tf
        model = bm25s.BM25(k1=k1, b=b, method=self.params.method)
        model.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
        model.vocab_dict = vocab
        model.nonoccurrence_array = None  # only BM25L / BM25+ have one
        out.mkdir(parents=True, exist_ok=True)
        model.save(str(out), show_progress=False, allow_pickle=False)
        # what `extend_bm25s` needs to append without re-tokenizing (ours, not bm25s')
        save_npy(out / TF_FILE, tfs)
        save_npy(out / LENGTHS_FILE, lengths.astype(np.int32))
        self._lengths = []
        return n_docs

    @staticmethod
    def _place_base(
        base: _SavedCounts,
        indptr: np.ndarray,
        idf: np.ndarray,
        norm: np.ndarray,
        data: np.ndarray,
        indices: np.ndarray,
        tfs: np.ndarray,
    ) -> None:
        """Rescore the base's (term, doc, tf) entries with the new statistics; they keep
        their order at the start of each (longer) column. In chunks, to bound memory."""
        old_ptr = np.asarray(base.indptr, dtype=np.int64)
        n_terms = len(base.tokens)
        total = int(old_ptr[n_terms])
        chunk = 1 << 22
        for a in range(0, total, chunk):
            e = min(total, a + chunk)
            pos = np.arange(a, e, dtype=np.int64)
            cols = np.searchsorted(old_ptr, pos, side="right") - 1
            dest = pos + (indptr[cols] - old_ptr[cols])
            docs = np.asarray(base.indices[a:e], dtype=np.int64)
            tf = np.asarray(base.tf[a:e])
            tf64 = tf.astype(np.float64)
            tfc = tf64 / (norm[docs] + tf64)
            data[dest] = idf[cols].astype(np.float64) * tfc
            indices[dest] = docs
            tfs[dest] = tf


TF_FILE = "tf.lbi.npy"  # term frequency of every stored (term, doc) entry, in CSC order
LENGTHS_FILE = "doc_lengths.lbi.npy"  # tokens per document (int32)


class _SavedCounts:
    """The counts of a saved index (memory-mapped): enough to append documents."""

    def __init__(self, folder: Path):
        vocab = read_json(folder / "vocab.index.json")
        params = read_json(folder / "params.index.json")
        self.indptr = load_npy(folder / "indptr.csc.index.npy", dtype=np.int64)
        self.indices = load_npy(folder / "indices.csc.index.npy", dtype=np.int32)
        self.tf = load_npy(folder / TF_FILE)
        self.lengths = load_npy(folder / LENGTHS_FILE, dtype=np.int32)
        nnz = int(self.indptr[-1]) if len(self.indptr) else 0
        tokens = sorted(vocab, key=vocab.__getitem__) if isinstance(vocab, dict) else []
        if tokens == [""]:
            tokens = []  # the placeholder of a vocabulary-less index
        if (
            [vocab[t] for t in tokens] != list(range(len(tokens)))
            or len(self.indptr) < len(tokens) + 1
            or len(self.indices) != nnz
            or len(self.tf) != nnz
            or self.tf.dtype not in (np.uint16, np.uint32)
            or len(self.lengths) != params.get("num_docs")
        ):
            raise IndexFormatError(f"{folder}: BM25 counts do not match the index")
        self.tokens: list[str] = tokens


def extend_bm25s(folder: Path, texts: Iterable[str], out: Path, params: BM25Params) -> int | None:
    """The index of (`folder`'s documents + `texts`) written to `out`, equal to building it
    from all texts, without re-tokenizing `folder`'s documents. None when `folder` lacks the
    saved counts (older index, other method): the caller rebuilds from all texts."""
    if params.method != "lucene" or not (folder / TF_FILE).exists():
        return None
    try:
        base = _SavedCounts(folder)
        builder = BM25Builder(params, base=base)
    except (IndexFormatError, ValueError) as e:  # ValueError: a token that is not ASCII
        log.warning("%s: cannot append to the saved BM25 counts (%s); rebuilding", folder, e)
        return None
    builder.add_all(texts)
    return builder.save(out)


def _lucene_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """float32 idf per term, each value computed with `math.log` exactly as bm25s does
    (once per distinct document frequency, so this is cheap at any vocabulary size)."""
    values, inverse = np.unique(df, return_inverse=True)
    logs = np.array(
        [math.log(1 + (n_docs - int(d) + 0.5) / (int(d) + 0.5)) if d else 0.0 for d in values],
        dtype=np.float32,
    )
    return logs[inverse.reshape(-1)]


def build_bm25s(texts: Iterable[str], out: Path, params: BM25Params) -> int:
    """Tokenize, score and save a bm25s index of `texts` into folder `out`. Returns rows.
    The default method (lucene) uses `BM25Builder`; any other bm25s method goes through
    bm25s' own (slow, Python-loop) builder."""
    if params.method != "lucene":
        return build_bm25s_reference(texts, out, params)
    builder = BM25Builder(params)
    builder.add_all(texts)
    return builder.save(out)


def build_bm25s_reference(texts: Iterable[str], out: Path, params: BM25Params) -> int:
    """The same index through bm25s' `build_index_from_ids` (its per-document Python loops):
    the reference `BM25Builder` is checked against, and the path for other methods."""
    import bm25s

    vocab: dict[str, int] = {}
    corpus = [[vocab.setdefault(tok, len(vocab)) for tok in tokenize(t)] for t in texts]
    n_docs = len(corpus)
    if not vocab:
        vocab[""] = 0  # bm25s needs a non-empty vocabulary; '' never comes out of tokenize
    model = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
    scores = model.build_index_from_ids(
        unique_token_ids=list(range(len(vocab))),
        corpus_token_ids=corpus if n_docs else [[0]],
        show_progress=False,
    )
    if not n_docs:
        scores["num_docs"] = 0
    model.scores = scores
    model.vocab_dict = vocab
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out), show_progress=False, allow_pickle=False)
    return n_docs


DENSE_DF_FRAC = 1 / 16
"""A query term found in more than this share of the rows is scored from a dense column."""
DENSE_CACHE_MB = 512
"""Default memory cap of the dense-column cache (env `LBI_BM25_DENSE_CACHE_MB`; 0: off)."""
_SCORE_BLOCK = 1 << 17  # rows per block when summing dense columns (accumulator in cache)


class DenseColumns:
    """A bounded, thread-safe LRU cache of dense float32 score columns, one per common term.

    A term in many rows costs ~12 ns a posting through `bincount` (gather, widen, scatter)
    but ~1 ns a row as a dense column added in float64: past about n/16 rows the column
    wins (measured, README "Indexes and retrieval"). A column is built on first use from
    the CSC arrays (zeros + one scatter of the posting list, cheaper than scoring it once
    sparsely) and kept while the cache holds at most `max_bytes` (4 bytes a row a term);
    the least recently used column goes first.
    """

    def __init__(
        self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n: int, max_bytes: int
    ):
        self._data, self._indices, self._indptr, self._n = data, indices, indptr, n
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


class Bm25sIndex:
    """A saved bm25s index, loaded memory-mapped.

    Scoring is exact and hybrid: query terms in more than `dense_df_frac` of the rows are
    added as dense columns (`DenseColumns`, at most `dense_cache_bytes`, default
    `DENSE_CACHE_MB` MiB or env `LBI_BM25_DENSE_CACHE_MB`), the others posting by posting.
    Every row's sum is taken in float64 in the same term order as bm25s' (and the former
    `bincount`) sum, so the scores are bit for bit the same.
    """

    def __init__(
        self,
        folder: Path,
        expected_rows: int,
        *,
        dense_df_frac: float = DENSE_DF_FRAC,
        dense_cache_bytes: int | None = None,
    ):
        import bm25s

        params_path = folder / "params.index.json"
        read_json(params_path)  # clear error on a missing / truncated params file
        read_json(folder / "vocab.index.json")
        for name in ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"):
            if not (folder / name).exists():
                raise IndexFormatError(f"{folder / name}: missing index file")
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
        if self._n != expected_rows:
            raise IndexFormatError(
                f"{params_path}: {self._n} documents, manifest says {expected_rows}"
            )
        from lbi_icl.index.verify import check_csc

        check_csc(folder, self._data, self._indices, self._indptr, self._n, len(self._vocab))
        cap = _cache_bytes() if dense_cache_bytes is None else max(0, dense_cache_bytes)
        self.dense = DenseColumns(self._data, self._indices, self._indptr, self._n, cap)
        # a posting list at least this long is scored as a dense column (never when the
        # cache cannot hold one column: rebuilding it every query would cost more)
        self.dense_min_df = max(1, math.floor(self._n * dense_df_frac) + 1)
        if cap < 4 * self._n:
            self.dense_min_df = self._n + 1

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
        float64 term by term (the order of `qids`) and rounded to float32: the sum bm25s
        computes. Common terms (see class doc) are added as cached dense columns, block by
        block; the rest posting by posting (`np.add.at`, ~8 ns a posting against ~12-20 for
        `bincount` or `acc[rows] += scores`, same sums)."""
        ip, n = self._indptr, self._n
        acc = np.zeros(n, dtype=np.float64)
        dense: list[np.ndarray] = []
        for q in [*qids, -1]:
            a, b = (int(ip[q]), int(ip[q + 1])) if q >= 0 else (0, 0)
            if q >= 0 and b - a >= self.dense_min_df:
                dense.append(self.dense.get(q))
                continue
            if dense:  # a run of dense terms: add them before the next sparse term
                for s in range(0, n, _SCORE_BLOCK):
                    blk = acc[s : s + _SCORE_BLOCK]
                    for col in dense:
                        np.add(blk, col[s : s + _SCORE_BLOCK], out=blk)
                dense = []
            if b > a:  # widened first: add.at's fast loop needs intp rows, float64 values
                rows = self._indices[a:b].astype(np.intp)
                np.add.at(acc, rows, self._data[a:b].astype(np.float64))
        return acc.astype(np.float32)


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
