"""Index build / load / add: layout, manifest, engines, atomicity and load-time errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lbi_icl.data import Document, Step, Trajectory
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import (
    BM25Params,
    IndexBuildError,
    IndexConfig,
    IndexFormatError,
    IndexMismatchError,
    add_to_index,
    build_index,
    build_index_from,
    load_index,
)
from lbi_icl.index.bm25 import Bm25sIndex, RankBm25Index, build_bm25s
from lbi_icl.index.docs import chunk_document
from lbi_icl.util.tokenizer import tokenize

FIX = Path(__file__).parent / "fixtures" / "retrieval"
TRAJ = FIX / "trajectories.jsonl"
DOCS = FIX / "docs.jsonl"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("idx") / "toy"
    build_index([TRAJ], out, docs=[DOCS], embedder=HashEmbedder(64))
    return out


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def test_tokenizer_is_documented_rule() -> None:
    assert tokenize("You see a Red door, 2 steps-forward!") == [
        "see",
        "red",
        "door",
        "2",
        "steps",
        "forward",
    ]


def test_build_writes_manifest_and_loads(built: Path) -> None:
    m = json.loads((built / "manifest.json").read_text())
    assert m["format_version"] == 1
    assert m["embedder"] == {"id": "hash-bow-v1@64", "dim": 64, "spec": "hash:64", "backend": None}
    assert m["bm25"]["engine"] == "bm25s"
    assert m["counts"] == {"examples": 8, "steps": 18, "documents": 4, "chunks": 4}
    assert len(m["content_hash"]) == 64 and m["inputs"][0]["kind"] == "trajectories"
    assert not list(built.rglob("*.pkl")) and not list(built.rglob("*.pickle"))
    for npy in built.rglob("*.npy"):
        np.load(npy, allow_pickle=False)  # every array loads without pickle
    index = load_index(built)
    assert index.embedder.id == "hash-bow-v1@64"
    traj = index.get("ex-door")
    assert traj.instruction == "open the red door" and traj.steps[1].action == "open door"
    assert index.observations[0].startswith("This room is called the kitchen")
    # lineage: the backward example inherits its parent's task and root
    i = index.index_of("ex-boil-part")
    assert index.meta("task", i) == "boil/1" and index.meta("root", i) == "ex-boil"
    assert index.meta("label", index.index_of("ex-door-green")) == "door"


def test_build_is_deterministic_in_content(built: Path, tmp_path: Path) -> None:
    other = tmp_path / "again"
    build_index([TRAJ], other, docs=[DOCS], embedder=HashEmbedder(64))
    a = json.loads((built / "manifest.json").read_text())
    b = json.loads((other / "manifest.json").read_text())
    assert a["content_hash"] == b["content_hash"] and a["files"] == b["files"]


def test_engines_rank_the_same_on_a_small_corpus(tmp_path: Path) -> None:
    corpus = [
        "you see a red ball two steps forward",
        "a blue key lies at your feet",
        "the red door is closed and the red key is here",
        "kitchen with a stove a sink and a pot",
        "the pot is full of water next to the sink",
        "a green door three steps left of a red ball",
    ]
    params = BM25Params()
    build_bm25s(corpus, tmp_path / "b", params)
    fast = Bm25sIndex(tmp_path / "b", len(corpus))
    ref = RankBm25Index(corpus, params)
    for q in ["red ball", "red door key", "pot sink water", "green door left", "stove"]:
        f_rows, f_scores = fast.top_k(q, 6)
        r_rows, r_scores = ref.top_k(q, 6)
        assert f_rows.tolist() == r_rows.tolist(), q
        # same scores up to rank-bm25's constant (k1 + 1) factor
        np.testing.assert_allclose(r_scores, f_scores * (params.k1 + 1), rtol=1e-4)


def test_rank_bm25_engine_selectable_in_index(built: Path, tmp_path: Path) -> None:
    cfg = IndexConfig(bm25=BM25Params(engine="rank-bm25"))
    out = tmp_path / "ref"
    build_index([TRAJ], out, embedder=HashEmbedder(64), config=cfg)
    ref = load_index(out)
    fast = load_index(built)
    assert ref.manifest.bm25.engine == "rank-bm25"
    q = "The red door is right in front of you"
    assert (
        ref.bm25("observation").top_k(q, 5)[0].tolist()
        == fast.bm25("observation").top_k(q, 5)[0].tolist()
    )


def test_doc_chunking_size_and_overlap() -> None:
    doc = Document(id="d", env="toy", title="T", text=" ".join(f"w{i}" for i in range(500)))
    chunks = list(chunk_document(doc, words=200, overlap=40))
    assert [c.id for c in chunks] == ["d#0", "d#1", "d#2"]
    first, second = chunks[0].text.split()[1:], chunks[1].text.split()[1:]
    assert len(first) == 200 and first[-40:] == second[:40]
    assert chunks[-1].text.split()[-1] == "w499"


def test_add_appends_and_keeps_old_vectors(built: Path, tmp_path: Path) -> None:
    path = _copy(built, tmp_path)
    before = load_index(path)
    old_vecs = np.array(before.vectors("instruction"))
    old_hash = before.manifest.content_hash
    before.close()
    new = Trajectory(
        id="ex-window",
        env="toy",
        instruction="close the window",
        steps=[Step(observation="An open window lets the cold air in.", action="close window")],
        outcome="success",
        metadata={"task_id": "window/1"},
    )
    manifest = add_to_index(path, [new])
    assert manifest.counts.examples == 9 and manifest.counts.steps == 19
    assert manifest.counts.chunks == 4 and manifest.content_hash != old_hash
    assert manifest.updated_at is not None
    after = load_index(path)
    np.testing.assert_array_equal(after.vectors("instruction")[:8], old_vecs)
    rows, _ = after.bm25("observation").top_k("open window cold air", 1)
    assert after.ids[int(after.step_example[rows[0]])] == "ex-window"
    assert len(after.chunks) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left
    with pytest.raises(IndexBuildError, match="duplicate example id 'ex-window'"):
        add_to_index(path, [new])
    assert load_index(path).manifest.counts.examples == 9  # failed add left it untouched


def test_build_from_memory_and_duplicate_ids(tmp_path: Path) -> None:
    t = Trajectory(id="a", env="e", instruction="x", steps=[Step(observation="o", action="a")])
    m = build_index_from([t], tmp_path / "mem", embedder=HashEmbedder(8))
    assert m.counts.examples == 1 and m.inputs == []
    with pytest.raises(IndexBuildError, match="duplicate example id 'a'"):
        build_index_from([t, t], tmp_path / "dup", embedder=HashEmbedder(8))
    assert not (tmp_path / "dup").exists()


def test_refuses_to_replace_a_non_index_folder(tmp_path: Path) -> None:
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(IndexBuildError, match="not an index"):
        build_index([TRAJ], out, embedder=HashEmbedder(8))
    assert (out / "notes.txt").read_text() == "keep me"


def test_missing_file_is_named(built: Path, tmp_path: Path) -> None:
    path = _copy(built, tmp_path)
    (path / "steps_pos.npy").unlink()
    with pytest.raises(IndexFormatError, match=r"steps_pos\.npy: missing"):
        load_index(path)


def test_truncated_file_is_named(built: Path, tmp_path: Path) -> None:
    path = _copy(built, tmp_path)
    blob = path / "vec_instruction.npy"
    blob.write_bytes(blob.read_bytes()[:100])
    with pytest.raises(IndexFormatError, match=r"vec_instruction\.npy: truncated"):
        load_index(path)


def test_version_mismatch_and_bad_manifest(built: Path, tmp_path: Path) -> None:
    path = _copy(built, tmp_path)
    mpath = path / "manifest.json"
    m = json.loads(mpath.read_text())
    m["format_version"] = 99
    mpath.write_text(json.dumps(m))
    with pytest.raises(IndexFormatError, match="format version 99"):
        load_index(path)
    mpath.write_text('{"format_version": 1, "lbi')
    with pytest.raises(IndexFormatError, match=r"manifest\.json: not valid JSON"):
        load_index(path)


def test_embedder_mismatch_is_an_error(built: Path) -> None:
    with pytest.raises(IndexMismatchError, match=r"hash-bow-v1@64.*hash-bow-v1@32"):
        load_index(built, embedder=HashEmbedder(32))


def test_examples_read_correctly_from_many_threads(tmp_path: Path) -> None:
    """Runner workers share one index: concurrent reads must not interleave (a shared file
    position once made a quickstart episode fail with 'example #8 is corrupt')."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    words = " ".join(f"word{k}" for k in range(400))  # large examples: reads take time
    trajs = [
        Trajectory(
            id=f"big{i}",
            env="toy",
            instruction=f"task {i}",
            steps=[Step(observation=f"{i} {j} {words}", action=f"act {j}") for j in range(30)],
        )
        for i in range(40)
    ]
    out = tmp_path / "big"
    build_index_from(trajs, out, embedder=HashEmbedder(16))
    expected = {t.id: t for t in trajs}
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for _ in range(5):
            index = load_index(out, embedder=HashEmbedder(16))  # cold cache every round

            def read(i: int, index=index) -> bool:
                tid = f"big{i % len(trajs)}"
                return index.get(tid) == expected[tid]

            with ThreadPoolExecutor(8) as pool:
                assert all(pool.map(read, range(200)))
    finally:
        sys.setswitchinterval(old)
