"""Bit rot in an index (one flipped bit; size and mtime kept, so the hash-on-change stamp
does not look) is caught before it changes an answer: files read whole at load, files read
piecewise when the damaged piece is read. Indexes without checksums still load."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from lbi_icl.cli import main as cli_main
from lbi_icl.embed import load_embedder
from lbi_icl.index import IndexFormatError, build_index, load_index
from lbi_icl.index import layout as L
from lbi_icl.index.content import CHECKSUMS_JSON, CHECKSUMS_NPY, npy_header_size

FIXTURES = Path(__file__).parent / "fixtures" / "retrieval"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("content") / "index"
    build_index(
        [FIXTURES / "trajectories.jsonl"],
        out,
        docs=[FIXTURES / "docs.jsonl"],
        embedder=load_embedder("hash:64"),
    )
    return out


@pytest.fixture
def index(built, tmp_path) -> Path:
    import shutil

    copy = tmp_path / "index"
    shutil.copytree(built, copy)  # copy2 keeps mtimes: the verify stamp still holds
    return copy


def _flip(path: Path, byte: int, bit: int) -> None:
    """Flip one bit in place, keeping the file's size and mtime."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(byte)
        old = fh.read(1)[0]
        fh.seek(byte)
        fh.write(bytes([old ^ (1 << bit)]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_exponent_flip_in_a_vector_is_caught_at_load(index):
    path = index / L.VEC_INSTRUCTION
    header = npy_header_size(path)
    at = int(np.flatnonzero(np.abs(np.load(path).ravel()) > 0.01)[0]) * 4 + header
    _flip(path, at + 3, 6)  # that float's top exponent bit: 0.1 -> ~3e37, still finite
    value = struct.unpack("<f", path.read_bytes()[at : at + 4])[0]
    assert np.isfinite(value) and abs(value) > 1e30  # what slipped through before
    idx = load_index(index)
    with pytest.raises(IndexFormatError, match=r"vec_instruction\.npy: its content changed"):
        idx.vectors("instruction")
    # the command a user runs says so, with a non-zero exit
    argv = ["index", "query", str(index), "--field", "instruction", "--text", "go to the key"]
    assert cli_main(argv) == 1


def test_damage_in_piecewise_files_is_caught_when_read(index):
    idx = load_index(index)
    clean = [idx.get_by_idx(i).instruction for i in range(idx.n_examples)]
    idx.close()
    # examples.jsonl: a letter of the last example's instruction changes (still valid JSON)
    offsets = np.load(index / L.EXAMPLE_OFFSETS)
    raw = (index / L.EXAMPLES).read_bytes()
    last = len(offsets) - 2
    at = raw.index(b'"instruction":"', int(offsets[last])) + len('"instruction":"')
    _flip(index / L.EXAMPLES, at, 0)
    idx = load_index(index)  # examples.jsonl is read piecewise: the load does not look
    with pytest.raises(IndexFormatError, match=r"examples\.jsonl: bytes"):
        idx.get_by_idx(last)
    if int(offsets[last]) // 65536 > 0:  # another block still answers
        assert idx.get_by_idx(0).instruction == clean[0]


def test_damage_in_step_texts_and_bm25_postings(index):
    _flip(index / f"{L.STEP_OBS}.bin", 5, 1)
    idx = load_index(index)
    with pytest.raises(IndexFormatError, match=r"steps_obs\.bin: bytes 0-65535"):
        idx.observations[0]
    # a BM25 score of some term: queries that read that term refuse, others answer
    folder = index / L.BM25_STEPS
    data = folder / "data.csc.index.npy"
    indptr = np.load(folder / "indptr.csc.index.npy")
    vocab = json.loads((folder / "vocab.index.json").read_text())
    term = next(t for t, i in vocab.items() if t.isalpha() and indptr[i + 1] > indptr[i])
    _flip(data, npy_header_size(data) + int(indptr[vocab[term]]) * 4 + 3, 6)
    idx = load_index(index)
    with pytest.raises(IndexFormatError, match=r"data\.csc\.index\.npy: bytes"):
        idx.bm25("observation").top_k(term, 5)


def test_damage_in_a_file_read_whole_at_load(index):
    ids = index / L.EXAMPLE_IDS
    text = ids.read_text()
    _flip(ids, text.index('"', 2) - 1, 0)  # a letter of the first id
    with pytest.raises(IndexFormatError, match=r"example_ids\.json: its content changed"):
        load_index(index)


def test_clean_and_pre_checksum_indexes_load_and_answer(index):
    idx = load_index(index)
    assert idx.bm25("observation").top_k("key door", 3)[0].size > 0
    assert idx.vectors("instruction").shape[0] == idx.n_examples
    assert idx.get_by_idx(idx.n_examples - 1).steps
    idx.close()
    for name in (CHECKSUMS_JSON, CHECKSUMS_NPY):
        (index / name).unlink()
    old = load_index(index)  # built before checksums existed: structural checks only
    assert old.content is None and old.bm25("observation").top_k("key door", 3)[0].size > 0
    assert cli_main(["index", "verify", str(index)]) == 0  # the checksums are not listed


def test_blocks_are_checked_one_by_one(tmp_path):
    from lbi_icl.index.content import BLOCK, ContentChecks, digest_file, write_checksums

    data = tmp_path / "blob.bin"
    data.write_bytes(os.urandom(3 * BLOCK + 100))
    sums = digest_file(data)
    assert sums[0].size == 3 * BLOCK + 100 and len(sums[1]) == 4
    write_checksums(tmp_path, {"blob.bin": sums})
    _flip(data, 2 * BLOCK + 7, 3)
    checks = ContentChecks.load(tmp_path)
    assert checks is not None
    checks.span("blob.bin", 0, 2 * BLOCK)  # blocks 0 and 1: intact
    checks.span("blob.bin", 3 * BLOCK, 3 * BLOCK + 100)  # the short last block
    with pytest.raises(IndexFormatError, match=f"bytes {2 * BLOCK}-{3 * BLOCK - 1} changed"):
        checks.span("blob.bin", BLOCK + 5, 2 * BLOCK + 8)
    with pytest.raises(IndexFormatError, match="its content changed"):
        checks.whole("blob.bin")


def test_a_run_on_a_rotten_index_stops_before_any_episode(index, tmp_path, capsys):
    pytest.importorskip("minigrid")
    path = index / L.VEC_DESCRIPTION
    at = int(np.flatnonzero(np.abs(np.load(path).ravel()) > 0.01)[0]) * 4 + npy_header_size(path)
    _flip(path, at + 3, 6)
    out = tmp_path / "run"
    argv = ["run", "--env", "babyai", "--split", "test", "--tasks", "1", "--max-steps", "2"]
    argv += ["--policy", "retrieval", "--retrieval", "observation", "--index", str(index)]
    assert cli_main([*argv, "--out", str(out), "--no-progress"]) == 1
    assert "vec_description.npy: its content changed" in capsys.readouterr().err
    assert not (out / "episodes.jsonl").exists()
