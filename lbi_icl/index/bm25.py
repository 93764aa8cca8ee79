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


def _rank(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic top-k: highest score first, lower row id first on ties; drops zeros."""
    n = len(scores)
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    pos = np.flatnonzero(scores > 0)  # only rows sharing a query term count as hits
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


class Bm25sIndex:
    """A saved bm25s index, loaded memory-mapped."""

    def __init__(self, folder: Path, expected_rows: int):
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

    def __len__(self) -> int:
        return self._n

    def top_k(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        qids = sorted({self._vocab[t] for t in tokenize(query) if t in self._vocab})
        if not qids or self._n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return _rank(self.scores(qids), k)

    def scores(self, qids: list[int]) -> np.ndarray:
        """Sum of the precomputed per-(row, term) BM25 scores of the query terms: the same
        sum bm25s computes, done with one `bincount` instead of a loop of `add.at`."""
        ip = self._indptr
        parts = [(int(ip[q]), int(ip[q + 1])) for q in qids]
        rows = np.concatenate([self._indices[a:b] for a, b in parts])
        vals = np.concatenate([self._data[a:b] for a, b in parts])
        return np.bincount(rows, weights=vals, minlength=self._n).astype(np.float32)


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
