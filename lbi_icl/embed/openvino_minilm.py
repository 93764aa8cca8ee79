"""OpenVINO backend for the packaged all-MiniLM-L6-v2: the same weights, converted locally
to OpenVINO's format, run in bfloat16 where the CPU computes it natively (AMX / AVX-512 BF16).

Why a third backend: on a CPU with bf16 matrix units the transformer's matrix products are
several times faster than fp32, while every vector keeps a cosine of ≥ 0.9999 to torch's
fp32 one (products in bf16, sums and normalization in fp32). ONNX Runtime's CPU provider
has no bf16 kernels on x86; OpenVINO picks them per layer. On a CPU without bf16 the same
code runs in fp32 (forced fp32 measured about ONNX Runtime fp32's speed; same vectors).

How it is fast (each measured in benchmarks/retrieval/README.md, "OpenVINO"):
- the model is converted from the torch module (`ov.convert_model`), not read from the ONNX
  export: attention maps onto OpenVINO's fused attention op instead of ~10 small ops;
- a single text (a retrieval query) runs on a model compiled for its exact padded shape
  (1 × a multiple of `PAD_MULTIPLE` tokens; compiled on first use, ≈ 0.3 s, kept for the
  process, at most `MAX_STATIC_SHAPES` widths): static shapes skip OpenVINO's per-call shape
  preparation, ≈ 1.3× per query;
- batches run on one dynamic-shape model, padded to a multiple of `PAD_MULTIPLE` tokens.
Padding is masked out (attention mask and mean pooling), so it never changes a vector.

The converted model is cached next to the ONNX export (`onnx_minilm.export_folder`, keyed by
the weights' sha256), written to a temporary folder and renamed into place. Loading it reads
an XML graph and a weights file: no Python code runs. Extra `[fast]`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lbi_icl.embed.base import EmbedderError
from lbi_icl.embed.onnx_minilm import (
    OnnxMiniLMEmbedder,
    export_folder,
    mean_pooled_model,
    padded_feeds,
)

log = logging.getLogger(__name__)

OPENVINO_INSTALL_HINT = 'pip install "lbi_icl[fast]"  (openvino)'
PRECISIONS = ("auto", "bf16", "f32")
# Inputs are padded (masked: the vectors do not change) to a multiple of this many tokens, so
# a few shapes recur: a single text gets a model compiled for its shape, and OpenVINO keeps
# the kernels it prepared for a batch shape it has seen before.
PAD_MULTIPLE = 16
# Widths that get their own static 1-row model (≈ 35 MB of repacked bf16 weights each,
# measured); a single text of any other width runs on the dynamic model.
MAX_STATIC_SHAPES = 8
# Rows per inference within a batch, after sorting by token length (see `_run`).
SUB_BATCH = 8
IR_DIR = "openvino-v1"  # bump when the conversion changes: old cache entries are ignored
IR_FILE = "model.xml"


def convert_to_ir(model_dir: Path, out_dir: Path) -> None:
    """Convert the torch module (transformer + mean pooling) to OpenVINO IR in `out_dir`."""
    import openvino as ov
    import torch

    ids = torch.ones((2, 8), dtype=torch.int64)
    with torch.no_grad():
        model = ov.convert_model(mean_pooled_model(model_dir), example_input=(ids, ids))
    # Full-precision weights on disk: bf16 is chosen when compiling, for this CPU.
    ov.save_model(model, str(out_dir / IR_FILE), compress_to_fp16=False)


def ensure_ir(model_dir: Path, cache_dir: Path | None = None) -> Path:
    """The cached OpenVINO IR of `model_dir`'s weights, converting it first if missing."""
    _, folder = export_folder(model_dir, cache_dir)
    dest = folder / IR_DIR
    if (dest / IR_FILE).is_file():
        return dest / IR_FILE
    folder.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to OpenVINO (once, cached at %s)", model_dir, dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{IR_DIR}.", dir=folder))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the cache from other users of a shared one
    try:
        convert_to_ir(model_dir, tmp)
        try:
            os.replace(tmp, dest)
        except OSError:  # another process renamed its copy into place first
            if not (dest / IR_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / IR_FILE


class _CompiledRunner:
    """One compiled model with one infer request, behind a lock (an OpenVINO infer request
    must not run two inferences at once), with ONNX Runtime's `run(None, feeds)` shape."""

    def __init__(self, compiled: Any):
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, _outputs: None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            result = self._request.infer(feeds)
            return [np.array(result[0], dtype=np.float32, copy=True)]


class _LazyRunner:
    """A `_CompiledRunner` built on its first `run`."""

    def __init__(self, build: Callable[[], _CompiledRunner]):
        self._build = build
        self._runner: _CompiledRunner | None = None
        self._lock = threading.Lock()

    def run(self, outputs: None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            if self._runner is None:
                self._runner = self._build()
        return self._runner.run(outputs, feeds)


def cpu_has_bf16(core: Any) -> bool:
    """Whether OpenVINO reports native bf16 compute on this CPU."""
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an old OpenVINO without the property: assume not
        return False


class OpenVinoMiniLMEmbedder(OnnxMiniLMEmbedder):
    """The packaged all-MiniLM-L6-v2 on OpenVINO (bf16 where native, else fp32)."""

    def __init__(
        self,
        *,
        precision: str = "auto",
        model_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
    ):
        if precision not in PRECISIONS:
            raise EmbedderError(f"OpenVINO precision: one of {PRECISIONS}, got {precision!r}")
        super().__init__(
            int8=False,
            model_dir=model_dir,
            cache_dir=cache_dir,
            batch_size=batch_size,
            show_progress=show_progress,
        )
        self.backend = "openvino"
        self.spec = "minilm-openvino"
        self.requested_precision = precision
        self.precision: str | None = None  # what is compiled: 'bf16' or 'f32'
        self._core: Any = None
        self._model: Any = None
        self._single: dict[int, _CompiledRunner] = {}  # padded width -> 1-row static model
        self._compile_lock = threading.Lock()

    def _load_model(self) -> tuple[Any, Any]:
        if self._model is not None:
            return self._core, self._model
        try:
            import openvino as ov
        except ImportError as e:
            raise EmbedderError(
                f"embedder {self.spec!r} needs openvino: {OPENVINO_INSTALL_HINT}"
            ) from e
        if self.model_path is None:
            self.model_path = ensure_ir(self.model_dir, self.cache_dir)
        core = ov.Core()
        try:
            model = core.read_model(str(self.model_path))
        except Exception as e:
            raise EmbedderError(
                f"{self.model_path}: OpenVINO cannot read the cached model "
                f"({type(e).__name__}: {e}); delete that folder and it is converted again"
            ) from e
        if self.requested_precision == "auto":
            self.precision = "bf16" if cpu_has_bf16(core) else "f32"
        else:
            self.precision = self.requested_precision
        log.info("OpenVINO MiniLM: %s on this CPU", self.precision)
        self._core, self._model = core, model
        return core, model

    def _compile(self, model: Any, threads: int) -> _CompiledRunner:
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY",
        }
        try:
            return _CompiledRunner(self._core.compile_model(model, "CPU", config))
        except Exception as e:
            raise EmbedderError(
                f"OpenVINO cannot compile {self.model_path} for this CPU "
                f"({type(e).__name__}: {e}); use --embedder minilm-onnx instead"
            ) from e

    def _session(self, threads: int) -> Any:
        """The dynamic-shape model for `threads`, compiled on its first inference (a process
        that only embeds single texts never compiles it)."""
        with self._compile_lock:
            runner = self._sessions.get(threads)
            if runner is None:
                runner = self._sessions[threads] = _LazyRunner(lambda: self._dynamic(threads))
            return runner

    def _dynamic(self, threads: int) -> _CompiledRunner:
        with self._compile_lock:
            _, model = self._load_model()
            return self._compile(model, threads)

    def _single_session(self, width: int) -> _CompiledRunner | None:
        """A one-thread model compiled for exactly (1, width) inputs; None once
        `MAX_STATIC_SHAPES` other widths hold one (each keeps its own repacked weights)."""
        with self._compile_lock:
            runner = self._single.get(width)
            if runner is None:
                if len(self._single) >= MAX_STATIC_SHAPES:
                    return None
                _, model = self._load_model()
                shaped = model.clone()
                shaped.reshape({"input_ids": [1, width], "attention_mask": [1, width]})
                runner = self._single[width] = self._compile(shaped, 1)
            return runner

    def _run(self, sess: Any, texts: list[str]) -> np.ndarray:
        encs = self._tok().encode_batch(texts)
        if len(encs) == 1:
            feeds = padded_feeds(encs, PAD_MULTIPLE)
            runner = self._single_session(feeds["input_ids"].shape[1]) or sess
            return runner.run(None, feeds)[0]
        # Rows of similar token length together: less padding, and the attention cost grows
        # with the square of the padded width.
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out = np.empty((len(encs), self.dim), dtype=np.float32)
        for start in range(0, len(order), SUB_BATCH):
            rows = order[start : start + SUB_BATCH]
            out[rows] = sess.run(None, padded_feeds([encs[i] for i in rows], PAD_MULTIPLE))[0]
        return out


__all__ = ["OpenVinoMiniLMEmbedder", "convert_to_ir", "cpu_has_bf16", "ensure_ir"]
