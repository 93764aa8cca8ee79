"""Writing a bm25s index folder: `build_bm25s` (the numpy `BM25Builder`), `extend_bm25s`
(append to a saved index's counts), and `build_bm25s_reference` (bm25s' own builder: the
oracle the fast one is tested against, and the path for methods other than lucene)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from lbi_icl.index.bm25.builder import TF_FILE, BM25Builder, _SavedCounts
from lbi_icl.index.bm25.params import BM25Params
from lbi_icl.index.errors import IndexFormatError
from lbi_icl.util.tokenizer import tokenize

log = logging.getLogger(__name__)


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
