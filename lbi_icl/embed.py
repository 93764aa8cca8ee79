"""Embedder protocol. The sentence-transformers implementation is added by the index work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalized float32 vectors out (shape (n, dim))."""

    id: str  # stable id recorded in index manifests, e.g. 'all-MiniLM-L6-v2@384'
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...
