"""BM25 over pre-tokenized texts, behind one small interface with two engines.

- `bm25s` (default): sparse precomputed scores, saved with bm25s' own format (JSON params
  and vocabulary, `.npy` arrays written and read with `allow_pickle=False`), loaded
  memory-mapped, so a 1M-row index loads in well under a second.
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
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from lbi_icl.index.store import IndexFormatError, read_json
from lbi_icl.index.tokenize import TOKENIZER_ID, tokenize

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


class _TokenIds(Sequence[list[int]]):
    """Lazy per-document token-id lists over one flat int32 array (bm25s build input)."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray):
        self.flat, self.offsets = flat, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        return self.flat[self.offsets[i] : self.offsets[i + 1]].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(len(self)):
            yield self[i]


def build_bm25s(texts: Iterator[str] | Sequence[str], out: Path, params: BM25Params) -> int:
    """Tokenize, score and save a bm25s index of `texts` into folder `out`. Returns rows."""
    import bm25s

    vocab: dict[str, int] = {}
    ids = array("i")  # 4 bytes per token, not a Python int object: 1M rows stay in ~0.5 GB
    offsets = array("q", [0])
    for text in texts:
        ids.extend([vocab.setdefault(tok, len(vocab)) for tok in tokenize(text)])
        offsets.append(len(ids))
    flat = np.frombuffer(ids, dtype=np.int32)
    offs = np.frombuffer(offsets, dtype=np.int64)
    n_docs = len(offs) - 1
    if not vocab:
        vocab[""] = 0  # bm25s needs a non-empty vocabulary; '' never comes out of tokenize
    model = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
    scores = model.build_index_from_ids(
        unique_token_ids=list(range(len(vocab))),
        corpus_token_ids=_TokenIds(flat, offs) if n_docs else [[0]],
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
