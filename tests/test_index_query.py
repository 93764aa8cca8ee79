"""BM25 query speed-ups are exact: hybrid dense/sparse scoring and the block-maxima top-k
return what the plain posting-list sum (bm25s' own scores) returns, ties by row id."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from lbi_icl.index.bm25 import BM25Params, Bm25sIndex, build_bm25s, top_candidates
from lbi_icl.index.bm25.rank import _rank

COMMON = ["room", "called", "kitchen", "see", "door", "table"]


def _corpus(n: int, seed: int = 3) -> list[str]:
    """Observations where a few words are in most rows (boilerplate) and the rest are a
    long tail; every 7th row repeats an earlier one, so exact score ties exist."""
    rnd = random.Random(seed)
    tail = [f"w{i}" for i in range(400)]
    texts: list[str] = []
    for i in range(n):
        if i % 7 == 6:
            texts.append(texts[rnd.randrange(len(texts))])
            continue
        words = [w for j, w in enumerate(COMMON) if rnd.random() < 0.9 - 0.1 * j]
        words += rnd.choices(tail, weights=[1 / (r + 1) for r in range(len(tail))], k=12)
        rnd.shuffle(words)
        texts.append(" ".join(words))
    return texts


@pytest.fixture(scope="module")
def bm25_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    texts = _corpus(1500)
    out = tmp_path_factory.mktemp("bm25") / "steps"
    build_bm25s(texts, out, BM25Params())
    return out, texts


def _reference_rank(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.flatnonzero(scores > 0)
    rows = rows[np.lexsort((rows, -scores[rows]))][:k]
    return rows, scores[rows]


QUERIES = [
    "the room is called the kitchen, you see a door and a table",
    "w0 w1 w2 room see",
    "w399 w398 door",
    "called kitchen w5 w17 w23 table see room door",
    "nothing matches zzz",
]


@pytest.mark.parametrize("frac", [1 / 16, 1 / 4, 1.0])
def test_hybrid_scores_equal_plain_sum(bm25_dir: tuple[Path, list[str]], frac: float) -> None:
    folder, texts = bm25_dir
    index = Bm25sIndex(folder, len(texts), dense_df_frac=frac, dense_cache_bytes=1 << 30)
    import bm25s

    oracle = bm25s.BM25.load(str(folder), mmap=False, allow_pickle=False, show_progress=False)
    used_dense = False
    for query in QUERIES:
        qids = index.query_ids(query)
        if not qids:
            assert len(index.top_k(query, 5)[0]) == 0
            continue
        dense_terms = [
            q for q in qids if index._indptr[q + 1] - index._indptr[q] >= index.dense_min_df
        ]
        used_dense |= bool(dense_terms)
        got = index.scores(qids)
        # bit for bit bm25s' own scores (float32, summed in query-term order)
        assert got.dtype == np.float32
        assert np.array_equal(got, oracle.get_scores(list(qids)))
        for k in (1, 5, 40):
            rows, scores = index.top_k(query, k)
            want_rows, want_scores = _reference_rank(got, k)
            assert rows.tolist() == want_rows.tolist()
            assert np.array_equal(scores, want_scores)
    # the common words really took the dense path (and 1.0 = never)
    assert used_dense == (frac < 1.0)
    assert (len(index.dense) > 0) == (frac < 1.0)


def test_ties_are_broken_by_row_id(bm25_dir: tuple[Path, list[str]]) -> None:
    folder, texts = bm25_dir
    index = Bm25sIndex(folder, len(texts), dense_df_frac=1 / 16)
    dup = next(i for i in range(6, len(texts), 7) if texts.count(texts[i]) >= 2)
    rows, scores = index.top_k(texts[dup], 50)
    same = [i for i, t in enumerate(texts) if t == texts[dup]]
    # every copy of the observation scores the same; they come first, in row order
    assert rows[: len(same)].tolist() == same
    assert len(set(scores[: len(same)].tolist())) == 1


def test_dense_cache_is_bounded_and_results_unchanged(bm25_dir: tuple[Path, list[str]]) -> None:
    folder, texts = bm25_dir
    col_bytes = 4 * len(texts)
    small = Bm25sIndex(folder, len(texts), dense_df_frac=1 / 16, dense_cache_bytes=2 * col_bytes)
    off = Bm25sIndex(folder, len(texts), dense_cache_bytes=0)
    assert off.dense_min_df > len(texts)  # no room for a column: sparse path only
    for query in QUERIES * 2:
        qids = small.query_ids(query)
        if qids:
            assert np.array_equal(small.scores(qids), off.scores(qids))
        assert small.dense.nbytes <= 2 * col_bytes
    assert len(small.dense) == 2
    assert len(off.dense) == 0


def test_a_dense_cache_far_too_small_is_named_at_load(
    bm25_dir: tuple[Path, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    folder, texts = bm25_dir
    col_bytes = 4 * len(texts)
    roomy = Bm25sIndex(folder, len(texts), dense_df_frac=1 / 16, dense_cache_bytes=1 << 30)
    assert roomy.dense_terms >= 5 and not caplog.records
    with caplog.at_level("WARNING"):
        Bm25sIndex(folder, len(texts), dense_df_frac=1 / 16, dense_cache_bytes=col_bytes)
    assert len(caplog.records) == 1
    msg = caplog.records[0].getMessage()
    assert str(folder) in msg and f"{roomy.dense_terms} common terms" in msg
    assert "LBI_BM25_DENSE_CACHE_MB" in msg
    caplog.clear()
    # the cache holds the columns a query needs: no warning
    Bm25sIndex(folder, len(texts), dense_df_frac=1 / 16, dense_cache_bytes=1 << 30)
    assert not caplog.records


def test_dense_cache_size_from_env(
    bm25_dir: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, texts = bm25_dir
    monkeypatch.setenv("LBI_BM25_DENSE_CACHE_MB", "0")
    assert Bm25sIndex(folder, len(texts)).dense.max_bytes == 0
    monkeypatch.setenv("LBI_BM25_DENSE_CACHE_MB", "1.5")
    assert Bm25sIndex(folder, len(texts)).dense.max_bytes == int(1.5 * 2**20)
    monkeypatch.setenv("LBI_BM25_DENSE_CACHE_MB", "lots")
    assert Bm25sIndex(folder, len(texts)).dense.max_bytes == 512 * 2**20


@pytest.mark.parametrize("seed", range(4))
def test_block_maxima_top_k_is_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 50_000 + seed * 777
    # few distinct values: many ties, many zeros, the best rows clustered in one block
    scores = rng.integers(0, 6, n).astype(np.float32) * rng.integers(0, 2, n)
    scores[1000:1010] = 9.0
    scores[rng.integers(0, n, 3)] = 7.5
    for k in (1, 5, 12, 30):
        cand = top_candidates(scores, k)
        best = _reference_rank(scores, k)[0]
        assert set(best.tolist()) <= set(cand.tolist())
        rows, vals = _rank(scores, k)
        want_rows, want_vals = _reference_rank(scores, k)
        assert rows.tolist() == want_rows.tolist()
        assert np.array_equal(vals, want_vals)
    assert len(top_candidates(scores, 5)) < n // 4  # it does prune
    assert len(_rank(np.zeros(n, np.float32), 5)[0]) == 0


def test_dense_top_k_ties_by_row_and_matches_blas(tmp_path: Path) -> None:
    from lbi_icl.data import Step, Trajectory
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index import build_index_from, load_index

    rnd = random.Random(5)
    tasks = [f"put the {a} in the {b}" for a in ("key", "ball", "box") for b in ("sink", "bin")]
    trajs = [
        Trajectory(
            id=f"t{i:03d}",
            env="e",
            instruction=tasks[rnd.randrange(len(tasks))],  # shared: exact score ties
            steps=[Step(observation=f"room {i}", action=f"go {rnd.randrange(3)}")],
        )
        for i in range(12_000)
    ]
    build_index_from(trajs, tmp_path / "idx", embedder=HashEmbedder(16))
    index = load_index(tmp_path / "idx", embedder=HashEmbedder(16))
    for query in ("put the key in the sink", "ball bin", "go 2"):
        vec = index.embed_query(query)
        for field in ("instruction", "description"):
            mat = np.asarray(index.vectors(field))
            blas = mat @ vec
            got = index.dense_scores(field, vec)  # type: ignore[arg-type]
            np.testing.assert_allclose(got, blas, rtol=0, atol=1e-6)
            for k in (1, 5, 40):
                rows, scores = index.dense_top_k(field, vec, k)  # type: ignore[arg-type]
                order = np.lexsort((np.arange(len(got)), -got))[:k]
                assert rows.tolist() == order.tolist()  # best first, ties by row id
                assert np.array_equal(scores, got[order])
                # BLAS ranks the same rows, up to rows whose scores tie within rounding
                want = np.lexsort((np.arange(len(blas)), -blas))[:k]
                for a, b in zip(rows, want, strict=True):
                    assert a == b or abs(float(blas[a]) - float(blas[b])) < 1e-6


def test_dense_dot_split_is_bit_identical() -> None:
    from lbi_icl.index.dense import dense_dot

    rng = np.random.default_rng(7)
    mat = rng.standard_normal((5001, 48)).astype(np.float32)
    vec = rng.standard_normal(48)  # float64 in: scored as float32, like the library's vectors
    one = dense_dot(mat, vec)
    two = dense_dot(mat, vec, split_min_elements=1)
    assert one.dtype == np.float32 and two.dtype == np.float32
    assert np.array_equal(one, two)  # each row's sum is the same computation
    assert np.array_equal(one, np.einsum("ij,j->i", mat, vec.astype(np.float32)))
    np.testing.assert_allclose(one, mat @ vec.astype(np.float32), rtol=0, atol=1e-5)
    assert dense_dot(mat[:1], vec, split_min_elements=1).shape == (1,)
    assert dense_dot(mat[:0], vec).shape == (0,)
