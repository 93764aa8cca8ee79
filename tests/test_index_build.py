"""Index build internals at scale: the batch tokenizer and the numpy BM25 builder must give
exactly what the text-by-text tokenizer and bm25s' own builder give (same vocabulary, same
matrix, same scores and ranks), including on awkward text and on hash collisions."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

import lbi_icl.util.tokenizer as tk
from lbi_icl.data import Step, Trajectory
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import IndexFormatError, add_to_index, build_index, build_index_from, load_index
from lbi_icl.index.bm25 import (
    BM25Params,
    Bm25sIndex,
    RankBm25Index,
    build_bm25s,
    build_bm25s_reference,
)
from lbi_icl.util.tokenizer import TokenEncoder, tokenize

AWKWARD = [
    "",
    "the a an",  # stopwords only
    "Kelvin \u212a sign and \u0130stanbul lowercase to ASCII letters",
    "x\x00y holds a NUL",
    "\u03a3\u0391\u03a3 \u03c3 stra\u00dfe 42 caf\u00e9 na\u00efve",
    "y" * 8 + " " + "y" * 16 + " " + "y" * 24 + " " + "y" * 25 + " " + "z" * 60,
    "You see a Red door, 2 steps-forward!",
    "THE The the end",
]


def _reference(texts: list[str]) -> tuple[dict[str, int], list[int], list[int]]:
    vocab: dict[str, int] = {}
    ids: list[int] = []
    lengths: list[int] = []
    for t in texts:
        toks = tokenize(t)
        lengths.append(len(toks))
        ids += [vocab.setdefault(x, len(vocab)) for x in toks]
    return vocab, ids, lengths


def _random_texts(rnd: random.Random, n: int) -> list[str]:
    alphabet = "abcde\u00e9XYZ 0123\x00,.-\u0130\u212a\n"
    words = ["ab", "ba", "key", "door", "the", "sink3", "x" * 9, "q" * 17, "w" * 30]
    texts = []
    for _ in range(n):
        if rnd.random() < 0.5:
            texts.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 50))))
        else:
            texts.append(" ".join(rnd.choice(words) for _ in range(rnd.randint(0, 12))))
    return texts + rnd.sample(AWKWARD, 3)


def _encode_in_batches(texts: list[str], cut: int) -> tuple[TokenEncoder, list[int], list[int]]:
    enc = TokenEncoder()
    ids: list[int] = []
    lengths: list[int] = []
    for part in (texts[:cut], texts[cut:]):
        a, n = enc.encode(part)
        ids += a.tolist()
        lengths += n.tolist()
    return enc, ids, lengths


def test_batch_encoder_matches_tokenize_text_by_text() -> None:
    rnd = random.Random(7)
    for _ in range(150):
        texts = _random_texts(rnd, rnd.randint(0, 10))
        vocab, ids, lengths = _reference(texts)
        enc, got_ids, got_lengths = _encode_in_batches(texts, rnd.randint(0, len(texts)))
        assert enc.vocab() == vocab, texts
        assert got_ids == ids and got_lengths == lengths, texts


def test_batch_encoder_survives_hash_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hash that maps many tokens together: every batch must fall back (retry with
    another salt, or go by text) and still give the exact ids."""
    real = tk._hash

    def weak(words: np.ndarray, salt: int = 0) -> np.ndarray:
        return real(words, salt) & np.uint64(0x7) if salt == 0 else real(words, salt)

    def weakest(words: np.ndarray, salt: int = 0) -> np.ndarray:
        return words[0] & np.uint64(0x3)

    rnd = random.Random(3)
    for fake in (weak, weakest):
        monkeypatch.setattr(tk, "_hash", fake)
        for _ in range(40):
            texts = _random_texts(rnd, rnd.randint(1, 10))
            vocab, ids, lengths = _reference(texts)
            enc, got_ids, got_lengths = _encode_in_batches(texts, rnd.randint(0, len(texts)))
            assert enc.vocab() == vocab, texts
            assert got_ids == ids and got_lengths == lengths, texts


CORPUS = [
    "you see a red ball two steps forward",
    "a blue key lies at your feet",
    "the red door is closed and the red key is here",
    "kitchen with a stove a sink and a pot",
    "the pot is full of water next to the sink",
    "a green door three steps left of a red ball",
    "",
    "the a an",
    "red red red red ball",
]


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    return {
        n: np.load(folder / f"{n}.csc.index.npy", allow_pickle=False)
        for n in ("data", "indices", "indptr")
    }


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (1.2, 0.3), (2.0, 1.0)])
def test_numpy_builder_equals_bm25s_builder(tmp_path: Path, k1: float, b: float) -> None:
    rnd = random.Random(11)
    texts = CORPUS + _random_texts(rnd, 300)
    params = BM25Params(k1=k1, b=b)
    build_bm25s(texts, tmp_path / "new", params)
    build_bm25s_reference(texts, tmp_path / "ref", params)
    new, ref = _arrays(tmp_path / "new"), _arrays(tmp_path / "ref")
    for name in ("indices", "indptr"):
        assert new[name].dtype == ref[name].dtype
        np.testing.assert_array_equal(new[name], ref[name])
    assert new["data"].dtype == np.float32
    np.testing.assert_allclose(new["data"], ref["data"], rtol=1e-6, atol=0)
    for f in ("vocab.index.json", "params.index.json"):
        assert json.loads((tmp_path / "new" / f).read_text()) == json.loads(
            (tmp_path / "ref" / f).read_text()
        )
    fast, slow = Bm25sIndex(tmp_path / "new", len(texts)), Bm25sIndex(tmp_path / "ref", len(texts))
    for q in ["red ball", "red door key", "pot sink water", "green door left", "key", "zzz"]:
        a, b_ = fast.top_k(q, 10), slow.top_k(q, 10)
        assert a[0].tolist() == b_[0].tolist(), q
        np.testing.assert_allclose(a[1], b_[1], rtol=1e-6)


def test_numpy_builder_ranks_like_rank_bm25(tmp_path: Path) -> None:
    params = BM25Params()
    build_bm25s(CORPUS, tmp_path / "b", params)
    fast = Bm25sIndex(tmp_path / "b", len(CORPUS))
    ref = RankBm25Index(CORPUS, params)
    for q in ["red ball", "red door key", "pot sink water", "green door left", "stove"]:
        f_rows, f_scores = fast.top_k(q, 9)
        r_rows, r_scores = ref.top_k(q, 9)
        assert f_rows.tolist() == r_rows.tolist(), q
        np.testing.assert_allclose(r_scores, f_scores * (params.k1 + 1), rtol=1e-4)


def test_numpy_builder_small_batches_and_edge_corpora(tmp_path: Path) -> None:
    """Batch boundaries do not change the matrix; empty and token-free corpora load."""
    from lbi_icl.index.bm25 import BM25Builder

    rnd = random.Random(5)
    texts = CORPUS + _random_texts(rnd, 100)
    one = BM25Builder(BM25Params(), batch_texts=3)
    one.add_all(texts)
    one.save(tmp_path / "small")
    build_bm25s(texts, tmp_path / "big", BM25Params())
    for name, arr in _arrays(tmp_path / "small").items():
        np.testing.assert_array_equal(arr, _arrays(tmp_path / "big")[name])
    # a term frequency beyond 16 bits
    big = ["red " * 70_000 + "ball", "red ball", "blue"]
    build_bm25s(big, tmp_path / "tf_new", BM25Params())
    build_bm25s_reference(big, tmp_path / "tf_ref", BM25Params())
    for name, arr in _arrays(tmp_path / "tf_new").items():
        np.testing.assert_array_equal(arr, _arrays(tmp_path / "tf_ref")[name])
    for corpus in ([], ["", "the and"]):
        out = tmp_path / f"edge{len(corpus)}"
        assert build_bm25s(corpus, out, BM25Params()) == len(corpus)
        idx = Bm25sIndex(out, len(corpus))
        assert len(idx) == len(corpus) and idx.top_k("red", 5)[0].tolist() == []


# -- add: the fast path (copy + hash check) gives what the full path gives -----------------

FIX = Path(__file__).parent / "fixtures" / "retrieval"


def _traj(tid: str, obs: str, **kw: object) -> Trajectory:
    return Trajectory(
        id=tid,
        env="toy",
        instruction=f"do {tid}",
        steps=[Step(observation=obs, action="look"), Step(observation="done " + obs, action="x")],
        outcome="success",
        **kw,  # type: ignore[arg-type]
    )


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "verified.json")  # stamp: mtimes
    }


def _index_state(folder: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    m = json.loads((folder / "manifest.json").read_text())
    keep = ("counts", "content_hash", "examples_sha256", "files", "embedder", "bm25")
    return _files(folder), {k: m[k] for k in keep}


def _base(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    build_index(
        [FIX / "trajectories.jsonl"], out, docs=[FIX / "docs.jsonl"], embedder=HashEmbedder(16)
    )
    return out


NEW = [
    # parent is an existing example: inherits its task and root
    _traj(
        "ex-child", "a red door and a child", source={"kind": "backward", "parent_id": "ex-door"}
    ),
    _traj("ex-new", "a kitchen sink", metadata={"task_id": "sink/1"}),
    # parent is another new example
    _traj("ex-grandchild", "the red door", source={"kind": "backward", "parent_id": "ex-child"}),
]


def test_add_fast_path_equals_full_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lbi_icl.index.build as build_mod

    fast, slow = _base(tmp_path, "fast"), _base(tmp_path, "slow")
    assert json.loads((fast / "manifest.json").read_text())["examples_sha256"]
    calls: list[str] = []
    real = build_mod._continue_examples
    monkeypatch.setattr(
        build_mod, "_continue_examples", lambda *a: calls.append("fast") or real(*a)
    )
    real_extend = build_mod.extend_bm25s
    monkeypatch.setattr(
        build_mod, "extend_bm25s", lambda *a: calls.append("extend") or real_extend(*a)
    )
    add_to_index(fast, NEW)
    assert calls == ["fast", "extend"]
    # the same add through the full path (re-read + re-validate every example)
    monkeypatch.setattr(build_mod, "_names_missing_parent", lambda *a: True)
    add_to_index(slow, NEW)
    assert calls == ["fast", "extend"]
    assert _index_state(fast) == _index_state(slow)
    index = load_index(fast)
    i = index.index_of("ex-grandchild")
    door = index.index_of("ex-door")
    assert index.meta("root", i) == "ex-door" and index.meta("task", i) == index.meta("task", door)
    assert index.meta("task", index.index_of("ex-new")) == "sink/1"
    rows, _ = index.bm25("observation").top_k("kitchen sink", 1)
    assert index.ids[int(index.step_example[rows[0]])] == "ex-new"
    # a second fast add continues the hash chain
    add_to_index(fast, [_traj("ex-more", "more")])
    assert load_index(fast).manifest.counts.examples == index.manifest.counts.examples + 1


def test_add_and_rebuild_keep_what_is_not_the_index(tmp_path: Path) -> None:
    """Only the index's own files are swapped: a user's notes and a run directory made
    inside the index folder survive `add` and `build --overwrite`."""
    path = _base(tmp_path, "kept")
    (path / "NOTES.md").write_text("mine\n")
    (path / "runs" / "r1").mkdir(parents=True)
    (path / "runs" / "r1" / "episodes.jsonl").write_text("{}\n")
    add_to_index(path, NEW)
    assert (path / "NOTES.md").read_text() == "mine\n"
    assert (path / "runs" / "r1" / "episodes.jsonl").read_text() == "{}\n"
    before = load_index(path).manifest.counts.examples
    add_to_index(path, [_traj("ex-more", "more")])
    assert load_index(path).manifest.counts.examples == before + 1
    build_index_from([_traj("only", "one")], path, embedder=HashEmbedder(16))  # a rebuild
    assert (path / "NOTES.md").exists() and (path / "runs" / "r1" / "episodes.jsonl").exists()
    assert load_index(path).ids == ["only"]
    assert "NOTES.md" not in load_index(path).manifest.files


def test_add_to_index_without_saved_bm25_counts(tmp_path: Path) -> None:
    """An index written before the BM25 counts were saved: examples still take the fast
    path, BM25 is rebuilt from every observation, and the result equals a fresh build."""
    path, fresh = _base(tmp_path, "idx"), _base(tmp_path, "fresh")
    mpath = path / "manifest.json"
    m = json.loads(mpath.read_text())
    for rel in ("bm25_steps/tf.lbi.npy", "bm25_steps/doc_lengths.lbi.npy"):
        (path / rel).unlink()
        del m["files"][rel]
    mpath.write_text(json.dumps(m))
    add_to_index(path, NEW)
    add_to_index(fresh, NEW)
    assert _index_state(path) == _index_state(fresh)


def test_add_new_example_that_is_a_missing_parent_takes_full_path(tmp_path: Path) -> None:
    """An existing example names a parent not in the index; adding that parent changes the
    existing example's lineage, so the index must equal a fresh build of everything."""
    orphan = _traj("ex-orphan", "orphan", source={"kind": "backward", "parent_id": "ex-lost"})
    lost = _traj("ex-lost", "lost", metadata={"task_id": "lost/7"})
    out = tmp_path / "idx"
    build_index_from([orphan], out, embedder=HashEmbedder(16))
    assert load_index(out).meta("root", 0) == "ex-lost"
    add_to_index(out, [lost])
    fresh = tmp_path / "fresh"
    build_index_from([orphan, lost], fresh, embedder=HashEmbedder(16))
    assert _files(out) == _files(fresh)
    index = load_index(out)
    assert index.meta("task", 0) == "lost/7"


def test_add_refuses_changed_examples_and_handles_old_manifests(tmp_path: Path) -> None:
    path = _base(tmp_path, "idx")
    blob = path / "examples.jsonl"
    data = bytearray(blob.read_bytes())
    pos = data.index(b"open the red door")
    data[pos : pos + 4] = b"OPEN"  # same size: only the hash can tell
    blob.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match=r"examples\.jsonl: content changed"):
        add_to_index(path, [_traj("ex-x", "x")])
    # an index written before examples_sha256 existed: the full path, which records it
    other = _base(tmp_path, "old")
    mpath = other / "manifest.json"
    m = json.loads(mpath.read_text())
    del m["examples_sha256"]
    mpath.write_text(json.dumps(m))
    manifest = add_to_index(other, [_traj("ex-x", "x")])
    assert (
        manifest.examples_sha256
        == hashlib.sha256((other / "examples.jsonl").read_bytes()).hexdigest()
    )


def test_extend_bm25s_equals_building_from_all_texts(tmp_path: Path) -> None:
    from lbi_icl.index.bm25 import extend_bm25s

    rnd = random.Random(9)
    params = BM25Params()
    for trial, (old, new) in enumerate(
        [
            (CORPUS, _random_texts(rnd, 40)),
            (_random_texts(rnd, 60), CORPUS),
            (["", "the a"], ["red ball", "zebra crossing"]),  # base without any token
            (CORPUS, []),
            (["red " * 70_000], ["red ball"]),  # 32-bit term frequencies
        ]
    ):
        base, out, full = (tmp_path / f"{n}{trial}" for n in ("base", "out", "full"))
        build_bm25s(old, base, params)
        assert extend_bm25s(base, new, out, params) == len(old) + len(new)
        build_bm25s(old + new, full, params)
        assert _files(out) == _files(full), trial
    # a folder without the saved counts (older index): the caller must rebuild
    (base / "tf.lbi.npy").unlink()
    assert extend_bm25s(base, ["x"], tmp_path / "none", params) is None


def _recorded_hashes_match_files(folder: Path) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    assert set(m["sha256"]) == set(m["files"]) and m["sha256"]
    for rel, digest in m["sha256"].items():
        assert digest == hashlib.sha256((folder / rel).read_bytes()).hexdigest(), rel


def test_recorded_file_hashes_are_the_files_after_build_and_both_add_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hashes come from a background thread and from the writer's own digest of
    examples.jsonl: each must still be the sha256 of the file as it was left."""
    import lbi_icl.index.build as build_mod

    fast, slow = _base(tmp_path, "fast"), _base(tmp_path, "slow")
    _recorded_hashes_match_files(fast)
    add_to_index(fast, NEW)
    _recorded_hashes_match_files(fast)
    monkeypatch.setattr(build_mod, "_names_missing_parent", lambda *a: True)
    add_to_index(slow, NEW)
    _recorded_hashes_match_files(slow)


def test_file_hasher_rehashes_a_file_changed_after_submission(tmp_path: Path) -> None:
    from lbi_icl.index.verify import FileHasher

    (tmp_path / "a.bin").write_bytes(b"first")
    (tmp_path / "b.bin").write_bytes(b"kept")
    hasher = FileHasher(tmp_path)
    hasher.known("b.bin", "digest-the-build-computed")
    hasher.submit_present()
    (tmp_path / "a.bin").write_bytes(b"second, longer")  # rewritten after submission
    (tmp_path / "c.bin").write_bytes(b"late")  # never submitted
    got = hasher.digests(["a.bin", "b.bin", "c.bin"])
    assert got == {
        "a.bin": hashlib.sha256(b"second, longer").hexdigest(),
        "b.bin": "digest-the-build-computed",
        "c.bin": hashlib.sha256(b"late").hexdigest(),
    }
