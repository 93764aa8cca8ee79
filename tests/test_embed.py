"""Embedders: the hashed test embedder and the packaged all-MiniLM-L6-v2 (offline)."""

from __future__ import annotations

import numpy as np
import pytest

from lbi_icl.embed import (
    Embedder,
    EmbedderError,
    HashEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
)


def test_hash_embedder_is_deterministic_normalized_and_dedups() -> None:
    emb = HashEmbedder(32)
    texts = ["open the red door", "pick up the key", "open the red door", ""]
    a = emb.embed(texts)
    b = HashEmbedder(32).embed(texts)
    assert a.dtype == np.float32 and a.shape == (4, 32)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a[:3], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a[0], a[2])
    assert not a[3].any()  # an empty text has no tokens: zero vector, not NaN
    assert emb.id == "hash-bow-v1@32" and isinstance(emb, Embedder)
    # shared words -> higher cosine than unrelated text
    q = emb.embed(["red door"])[0]
    assert q @ a[0] > q @ a[1]


def test_load_embedder_resolves_hash_specs_and_rejects_bad_ones() -> None:
    assert load_embedder("hash").id == "hash-bow-v1@64"
    assert load_embedder("hash:16").dim == 16
    with pytest.raises(EmbedderError, match="hash:DIM"):
        load_embedder("hash:many")


def test_missing_model_gives_clear_offline_error(tmp_path) -> None:
    emb = load_embedder(str(tmp_path / "no-such-model"))
    with pytest.raises(EmbedderError, match="no such model folder"):
        emb.embed(["x"])


def test_packaged_minilm_loads_offline_lazily_and_embeds() -> None:
    emb = load_embedder(None)
    assert isinstance(emb, SentenceTransformerEmbedder)
    # id and dim come from the model folder: nothing loaded yet
    assert emb.id == "all-MiniLM-L6-v2@384"
    assert emb._model is None
    texts = [
        "open the red door",
        "open the blue door",
        "boil water on the stove",
        "open the red door",
    ]
    vecs = emb.embed(texts)
    assert emb._model is not None
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(vecs[0], vecs[3])
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]


def test_uncached_hub_name_fails_fast_without_network(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    with pytest.raises(EmbedderError, match="not in the local cache"):
        load_embedder("someone/not-a-cached-model").embed(["x"])
