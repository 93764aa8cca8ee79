"""`manifest.json`: what an index directory holds and how it was built (pydantic models)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.index.ann import AnnConfig
from lbi_icl.index.bm25 import BM25Params

FORMAT_VERSION = 1

DESCRIPTION_FIELD = "instruction + action sequence"


class IndexConfig(BaseModel):
    """How to build an index. Defaults are the documented ones (docs/retrieval.md)."""

    model_config = ConfigDict(extra="forbid")

    bm25: BM25Params = Field(default_factory=BM25Params)
    chunk_words: int = Field(200, ge=10, description="documentation chunk size, in words")
    chunk_overlap: int = Field(40, ge=0, description="words shared by consecutive chunks")
    description_max_actions: int = Field(
        30, ge=1, description="actions included in an example's description text"
    )
    ann: AnnConfig = Field(
        default_factory=AnnConfig, description="faiss engines for the dense fields (index/ann.py)"
    )


class EmbedderInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    dim: int
    spec: str | None = None  # what `load_embedder` takes to recreate it
    # torch | onnx | onnx-int8 | openvino; None: built before backends were recorded
    # (= torch), or hash
    backend: str | None = None


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    examples: int = 0
    steps: int = 0
    documents: int = 0
    chunks: int = 0


class InputFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    kind: str  # trajectories | documents
    sha256: str


class IndexManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    lbi_icl_version: str
    embedder: EmbedderInfo
    bm25: BM25Params
    config: IndexConfig
    description_field: str = DESCRIPTION_FIELD
    counts: Counts
    content_hash: str  # sha256 over the canonical JSON of every example and document
    # sha256 of examples.jsonl's bytes: lets `add` trust (and copy) the existing examples
    # without re-reading them; None in indexes built before it existed (`add` re-reads those)
    examples_sha256: str | None = None
    inputs: list[InputFile] = Field(default_factory=list)
    built_at: str
    build_seconds: float
    updated_at: str | None = None
    files: dict[str, int] = Field(default_factory=dict)  # relative path -> size in bytes
    # relative path -> sha256 of its bytes (`lbi index verify`); empty in older indexes
    sha256: dict[str, str] = Field(default_factory=dict)
