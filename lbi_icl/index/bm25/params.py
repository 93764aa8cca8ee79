"""BM25 settings recorded in the manifest, and the one interface both engines answer."""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from lbi_icl.util.tokenizer import TOKENIZER_ID

EngineName = Literal["bm25s", "rank-bm25"]


class BM25Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: EngineName = "bm25s"
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    tokenizer: str = TOKENIZER_ID


class BM25Index(Protocol):
    def top_k(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row ids and scores of the best `k` rows (score > 0 only), best first, ties by row."""
        ...

    def __len__(self) -> int: ...
