"""`BM25Builder`: the bm25s score matrix built with numpy (batch tokenizer, (term, doc, tf)
triples), bit for bit what bm25s' own builder writes, plus the term counts saved beside it
(`TF_FILE`, `LENGTHS_FILE`) that let a later build append documents without re-tokenizing."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lbi_icl.index.bm25.params import BM25Params
from lbi_icl.index.errors import IndexFormatError
from lbi_icl.index.npyio import load_npy, read_json, save_npy
from lbi_icl.util.tokenizer import TokenEncoder

TF_FILE = "tf.lbi.npy"  # term frequency of every stored (term, doc) entry, in CSC order
LENGTHS_FILE = "doc_lengths.lbi.npy"  # tokens per document (int32)


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


class _SavedCounts:
    """The counts of a saved index (memory-mapped): enough to append documents."""

    def __init__(self, folder: Path):
        from lbi_icl.index.content import ContentChecks

        content = ContentChecks.load(folder.parent)
        if content is not None:  # everything an append copies forward, checked whole
            for rel in content.files:
                if rel.startswith(f"{folder.name}/") and not rel.endswith("data.csc.index.npy"):
                    content.whole(rel)
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


def _lucene_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """float32 idf per term, each value computed with `math.log` exactly as bm25s does
    (once per distinct document frequency, so this is cheap at any vocabulary size)."""
    values, inverse = np.unique(df, return_inverse=True)
    logs = np.array(
        [math.log(1 + (n_docs - int(d) + 0.5) / (int(d) + 0.5)) if d else 0.0 for d in values],
        dtype=np.float32,
    )
    return logs[inverse.reshape(-1)]
