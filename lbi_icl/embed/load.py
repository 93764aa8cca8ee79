"""`load_embedder`: an embedder by name (the `--embedder` flag and the index manifest's
`spec`)."""

from __future__ import annotations

from lbi_icl.embed.base import (
    DEFAULT_MODEL,
    DEFAULT_MODEL_ALIASES,
    ONNX_SPECS,
    OPENVINO_SPEC,
    Embedder,
    EmbedderError,
    HashEmbedder,
)
from lbi_icl.embed.sbert import SentenceTransformerEmbedder, _packaged_model_path


def load_embedder(
    name: str | None = None, *, batch_size: int = 64, show_progress: bool | None = None
) -> Embedder:
    """Resolve an embedder by name.

    - None / 'all-MiniLM-L6-v2' / 'default': the packaged all-MiniLM-L6-v2 (offline);
    - 'minilm-onnx' / 'minilm-onnx-int8': the same packaged weights on ONNX Runtime (fp32 /
      int8), exported locally on first use (`lbi_icl.embed.onnx_minilm`, extra `[fast]`);
    - 'minilm-openvino': the same weights converted locally to OpenVINO, bf16 where the CPU
      computes it natively (`lbi_icl.embed.openvino_minilm`, extra `[fast]`);
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
        from lbi_icl.embed.onnx_minilm import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(int8=name.endswith("int8"), show_progress=show_progress)
    if name == OPENVINO_SPEC:
        from lbi_icl.embed.openvino_minilm import OpenVinoMiniLMEmbedder

        return OpenVinoMiniLMEmbedder(show_progress=show_progress)
    if name == "hash" or name.startswith("hash:"):
        _, _, dim = name.partition(":")
        try:
            return HashEmbedder(int(dim) if dim else 64)
        except ValueError as e:
            raise EmbedderError(f"bad hash embedder spec {name!r}: use 'hash' or 'hash:DIM'") from e
    return SentenceTransformerEmbedder(name, batch_size=batch_size, show_progress=show_progress)
