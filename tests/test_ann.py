"""faiss engines for the dense fields (index/ann.py): the fp16 scan and the HNSW graph give
the exact search's rows and scores on these data, the graph is built at index time,
hashed, deterministic, rebuilt on add, and `exact` / `dense_search="exact"` bypass both."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import lbi_icl.index.ann as ann
from lbi_icl.data import Step, Trajectory
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import IndexConfig, IndexFormatError, add_to_index, build_index_from, load_index
from lbi_icl.index.ann import AnnConfig, Fp16Scan, Hnsw, hnsw_file
from lbi_icl.retrieval import RetrievalConfig, StepContext, make_retriever

WORDS = [f"w{i}" for i in range(300)] + ["kitchen", "door", "table", "sink", "apple", "open"]


def _trajectories(n: int, seed: int, prefix: str = "t") -> list[Trajectory]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        steps = [
            Step(observation=" ".join(rnd.choices(WORDS, k=12)), action=f"go {rnd.choice(WORDS)}")
            for _ in range(rnd.randint(1, 3))
        ]
        instruction = " ".join(rnd.choices(WORDS, k=6))
        out.append(Trajectory(id=f"{prefix}{i}", env="toy", instruction=instruction, steps=steps))
    return out


def _exact_top(mat: np.ndarray, vec: np.ndarray, k: int) -> list[int]:
    scores = mat @ vec
    return sorted(range(len(scores)), key=lambda r: (-scores[r], r))[:k]


@pytest.fixture(scope="module")
def hnsw_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ann") / "idx"
    cfg = IndexConfig(ann=AnnConfig(hnsw_min_rows=100))
    build_index_from(_trajectories(400, 1), out, embedder=HashEmbedder(64), config=cfg)
    return out


def test_fp16_scan_candidates_hold_the_exact_top_k() -> None:
    rng = np.random.default_rng(0)
    mat = rng.standard_normal((5000, 48)).astype(np.float32)
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    scan = Fp16Scan(mat)
    assert len(scan._parts) == 2  # two row halves
    for _ in range(20):
        vec = rng.standard_normal(48).astype(np.float32)
        vec /= np.linalg.norm(vec)
        cand = scan.candidates(vec, 5)
        assert len(cand) == 2 * 64  # max(4k, 64) from each half
        assert set(_exact_top(mat, vec, 5)) <= set(cand.tolist())


def test_fp16_engine_gives_exact_rows_and_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "idx"
    build_index_from(_trajectories(300, 2), out, embedder=HashEmbedder(64))
    assert not list(out.glob("*.faiss"))  # 300 rows: no graph by default
    monkeypatch.setattr(ann, "FP16_MIN_FLOATS", 0)
    index = load_index(out)
    for text in ["kitchen door w1 w2", "apple sink table", "w7 w8 w9 open"]:
        for field in ("instruction", "description"):
            rows, scores = index.dense_top_k(field, text, 5)
            assert isinstance(index.dense_engines._engines[field], Fp16Scan)
            want_rows, want_scores = index.dense_top_k(field, text, 5, exact=True)
            assert rows.tolist() == want_rows.tolist()
            np.testing.assert_allclose(scores, want_scores, rtol=1e-6)


def test_hnsw_is_built_hashed_and_matches_exact(hnsw_index: Path) -> None:
    index = load_index(hnsw_index)
    for field in ("instruction", "description"):
        name = hnsw_file(field)
        assert (hnsw_index / name).is_file()
        assert name in index.manifest.files and name in index.manifest.sha256
    hits = 0
    texts = [" ".join(random.Random(s).choices(WORDS, k=6)) for s in range(30)]
    for text in texts:
        rows, scores = index.dense_top_k("description", text, 5)
        assert isinstance(index.dense_engines._engines["description"], Hnsw)
        want_rows, _ = index.dense_top_k("description", text, 5, exact=True)
        hits += len(set(rows.tolist()) & set(want_rows.tolist()))
        # every returned score is the exact cosine of that row
        mat = index.vectors("description")
        np.testing.assert_allclose(scores, mat[rows] @ index.embed_query(text), rtol=1e-5)
        assert list(scores) == sorted(scores, reverse=True)
    assert hits / (5 * len(texts)) >= 0.95  # recall@5 vs exact on 400 rows


def test_hnsw_build_is_deterministic(hnsw_index: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    cfg = IndexConfig(ann=AnnConfig(hnsw_min_rows=100))
    build_index_from(_trajectories(400, 1), again, embedder=HashEmbedder(64), config=cfg)
    name = hnsw_file("description")
    assert (again / name).read_bytes() == (hnsw_index / name).read_bytes()


def test_add_rebuilds_the_graph_over_all_rows(hnsw_index: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(hnsw_index, copy)
    add_to_index(copy, _trajectories(50, 9, prefix="new"), embedder=HashEmbedder(64))
    index = load_index(copy)
    assert index.n_examples == 450
    new_row = index.index_of("new3")
    text = index.get_by_idx(new_row).instruction
    rows, _ = index.dense_top_k("instruction", text, 3)
    assert isinstance(index.dense_engines._engines["instruction"], Hnsw)
    assert new_row in rows.tolist()  # the added example is in the graph


def test_damaged_graph_fails_with_its_name(hnsw_index: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "bad"
    shutil.copytree(hnsw_index, copy)
    path = copy / hnsw_file("description")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IndexFormatError, match=hnsw_file("description")):
        index = load_index(copy)
        index.dense_top_k("description", "kitchen", 5)


def test_exact_search_bypasses_the_engines(hnsw_index: Path) -> None:
    index = load_index(hnsw_index)
    ctx = StepContext(
        instruction="open the door", observation="kitchen door table", step=0, env="toy"
    )
    cfg = RetrievalConfig(dense_search="exact", leakage_guard=False)
    make_retriever("agentic", index, cfg).retrieve(ctx)
    assert "description" not in index.dense_engines._engines
    make_retriever("agentic", index, RetrievalConfig(leakage_guard=False)).retrieve(ctx)
    assert isinstance(index.dense_engines._engines["description"], Hnsw)


def test_cli_builds_the_graph_on_request(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from lbi_icl.cli import main
    from lbi_icl.data.jsonl import write_jsonl

    data = tmp_path / "t.jsonl"
    write_jsonl(data, _trajectories(60, 4))
    out = tmp_path / "idx"
    argv = ["index", "build", "--trajectories", str(data), "--embedder", "hash:32"]
    assert main([*argv, "--out", str(out), "--hnsw-min-rows", "50"]) == 0
    assert (out / hnsw_file("description")).is_file()
    assert load_index(out).manifest.config.ann.hnsw_min_rows == 50
    assert main([*argv, "--out", str(tmp_path / "bad"), "--hnsw-min-rows", "0"]) != 0
    assert "hnsw_min_rows" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_searching_threads_use_one_openmp_thread() -> None:
    """OpenMP's thread count is per calling thread: a search from any thread must not wake
    a team of spinning OpenMP threads (they cost a busy 2-core machine dearly)."""
    import threading

    import faiss

    rng = np.random.default_rng(1)
    scan = Fp16Scan(rng.standard_normal((3000, 16)).astype(np.float32))
    seen: list[int] = []

    def search() -> None:
        scan.candidates(rng.standard_normal(16).astype(np.float32), 5)
        seen.append(faiss.omp_get_max_threads())

    t = threading.Thread(target=search)
    t.start()
    t.join()
    assert seen == [1]
