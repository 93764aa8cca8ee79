"""BM25 over pre-tokenized texts, behind one small interface with two engines.

- `bm25s` (default): sparse precomputed scores, saved with bm25s' own format (JSON params
  and vocabulary, `.npy` arrays written and read with `allow_pickle=False`), loaded
  memory-mapped, so a 1M-row index loads in well under a second. The matrix is built by
  `BM25Builder` (batch tokenizer + numpy), which writes exactly what bm25s' own Python-loop
  builder writes (`build_bm25s_reference`, kept as the oracle; tested equal).
- `rank-bm25` (reference): `BM25Okapi`, kept to check the fast engine. It has no file
  format of its own, so it is rebuilt from the stored texts at load time (slow; for small
  indexes and tests only).

Both use `lbi_icl.util.tokenizer.tokenize`, k1=1.5, b=0.75 and the Lucene idf
`log(1 + (N - df + 0.5) / (df + 0.5))` (always positive, so a term found in most
observations still counts a little); rank-bm25's Okapi idf is replaced by that formula, so
the two engines rank the same (their scores differ by the constant factor k1 + 1).

Modules: `params.py` (`BM25Params`, the `BM25Index` interface), `builder.py` (`BM25Builder`
and the saved term counts), `write.py` (build / extend / reference build of an index
folder), `cache.py` (`DenseColumns`), `score.py` (`Bm25sIndex`, `RankBm25Index`),
`rank.py` (top-k).
"""

from lbi_icl.index.bm25.builder import LENGTHS_FILE, TF_FILE, BM25Builder
from lbi_icl.index.bm25.cache import DENSE_CACHE_MB, DENSE_DF_FRAC, DenseColumns
from lbi_icl.index.bm25.params import BM25Index, BM25Params, EngineName
from lbi_icl.index.bm25.rank import block_bound_rows, top_candidates
from lbi_icl.index.bm25.score import Bm25sIndex, RankBm25Index
from lbi_icl.index.bm25.write import build_bm25s, build_bm25s_reference, extend_bm25s

__all__ = [
    "DENSE_CACHE_MB",
    "DENSE_DF_FRAC",
    "LENGTHS_FILE",
    "TF_FILE",
    "BM25Builder",
    "BM25Index",
    "BM25Params",
    "Bm25sIndex",
    "DenseColumns",
    "EngineName",
    "RankBm25Index",
    "block_bound_rows",
    "build_bm25s",
    "build_bm25s_reference",
    "extend_bm25s",
    "top_candidates",
]
