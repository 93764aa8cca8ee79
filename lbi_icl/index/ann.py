"""faiss for the dense fields, where it measurably beats numpy (benchmarks/retrieval/README.md,
"faiss: where it wins, and recall").

Two engines, both returning *candidate rows* that the caller scores exactly in float32 from
the memory-mapped vectors (so every returned score is the exact cosine, and a top-k is
ranked as the exact search ranks it):

- `Fp16Scan`: a flat scan over a half-precision copy of the matrix (faiss
  `IndexScalarQuantizer`, fp16), made in memory on first use, in two row halves searched
  on two threads (faiss releases the GIL). It reads half the bytes numpy's float32 scan
  reads; the `max(4k, 64)` best candidates are re-scored exactly, so the result differs
  from the exact one only if fp16 rounding (about 1e-3 of a cosine) pushes a true top-k row
  below that many others — recall@5 against exact is reported by the benchmark.
- `Hnsw`: an approximate graph index (faiss `IndexHNSWFlat`, inner product), built at
  `lbi index build` time for a field of at least `AnnConfig.hnsw_min_rows` rows and stored
  beside the vectors (`ann_<field>.hnsw.faiss`, hashed in the manifest like every file).
  Sub-millisecond at any size measured here, but its recall depends on the data (high on
  clustered sentence embeddings, low on isotropic random vectors): hence opt-in by size,
  with recall@5 reported.

Filters (leakage guard, metadata masks) are never pushed into faiss: retrievers re-check
every hit (`Selector`) and fetch more when too few pass (`collect`); a fetch of more than
`AnnConfig.max_k` rows, or `RetrievalConfig.dense_search="exact"`, goes to the exact scan.
Loading a `.faiss` file runs faiss' binary reader (no pickle, no code), after the manifest's
size / sha256 checks.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.index.dense import dense_dot
from lbi_icl.index.errors import IndexFormatError

if TYPE_CHECKING:
    from lbi_icl.index.content import ContentChecks

FP16_MIN_FLOATS = 4 << 20
"""A matrix of at least this many floats (e.g. 11k x 384) is scanned by `Fp16Scan`: below
it numpy's scan costs under a millisecond and faiss' set-up is not worth it."""
HNSW_SUFFIX = ".hnsw.faiss"


class AnnConfig(BaseModel):
    """Where faiss is used for the dense fields (part of `IndexConfig`)."""

    model_config = ConfigDict(extra="forbid")

    scan: Literal["auto", "numpy"] = Field(
        "auto", description="auto: fp16 faiss scan for big matrices; numpy: always float32"
    )
    hnsw_min_rows: int = Field(
        200_000, ge=1, description="build an HNSW graph for a field with at least these rows"
    )
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW links per node")
    hnsw_ef_construction: int = Field(80, ge=8, description="HNSW build-time beam width")
    hnsw_ef_search: int = Field(96, ge=8, description="HNSW query-time beam width (>= k)")
    max_k: int = Field(512, ge=1, description="fetches above this many rows go exact")


def hnsw_file(field: str) -> str:
    return f"ann_{field}{HNSW_SUFFIX}"


def _faiss() -> Any:
    """faiss, with one OpenMP thread for the calling thread. OpenMP's thread count is per
    calling thread, so every thread that searches calls this first: a single query gains
    nothing from OpenMP here, and on a busy 2-core machine its spinning threads cost more
    than they save (measured: 11 ms with one thread vs 40 ms with the default at 83k x 384)."""
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


class Fp16Scan:
    """Half-precision flat scan of one dense matrix, in two halves on two threads."""

    def __init__(self, mat: np.ndarray):
        faiss = _faiss()
        n, dim = mat.shape
        self.rows = n
        self._metric = faiss.METRIC_INNER_PRODUCT
        halves = [(0, n // 2), (n // 2, n)] if n >= 2 else [(0, n)]
        self._parts: list[tuple[int, Any]] = []
        for a, b in halves:
            part = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, self._metric)
            for s in range(a, b, 1 << 16):  # bounded float32 copies of the memory map
                part.add(np.ascontiguousarray(mat[s : min(b, s + (1 << 16))], dtype=np.float32))
            self._parts.append((a, part))

    def candidates(self, vec: np.ndarray, k: int) -> np.ndarray:
        """Row ids of the `max(4k, 64)` best rows by the fp16 scores (fewer if n is small)."""
        want = min(self.rows, max(4 * k, 64))
        q = np.ascontiguousarray(vec, dtype=np.float32).reshape(1, -1)

        def one(part: tuple[int, Any]) -> np.ndarray:
            _faiss()  # this thread's OpenMP setting (see _faiss)
            start, index = part
            _, ids = index.search(q, min(want, index.ntotal))
            got = ids[0]
            return got[got >= 0] + start

        if len(self._parts) == 1:
            return one(self._parts[0])
        from lbi_icl.util.thread_pools import shared_pool

        other = shared_pool("dense", 2).submit(one, self._parts[1])
        first = one(self._parts[0])
        return np.concatenate([first, other.result()])


class Hnsw:
    """A saved HNSW graph over one dense field (built by `build_hnsw`)."""

    def __init__(self, path: Path, rows: int, dim: int, ef_search: int):
        faiss = _faiss()
        try:
            self._index = faiss.read_index(str(path))
        except Exception as e:  # faiss raises RuntimeError on a damaged file
            raise IndexFormatError(f"{path}: cannot read the HNSW index ({e})") from e
        if self._index.ntotal != rows or self._index.d != dim:
            raise IndexFormatError(
                f"{path}: {self._index.ntotal} x {self._index.d} vectors, expected "
                f"{rows} x {dim} from the manifest"
            )
        self._ef = ef_search
        self._faiss = faiss

    def candidates(self, vec: np.ndarray, k: int) -> np.ndarray:
        want = max(2 * k, 20)
        _faiss()
        params = self._faiss.SearchParametersHNSW(efSearch=max(self._ef, want))
        q = np.ascontiguousarray(vec, dtype=np.float32).reshape(1, -1)
        _, ids = self._index.search(q, min(want, self._index.ntotal), params=params)
        got = ids[0]
        return got[got >= 0].astype(np.int64)


def rescore(
    mat: np.ndarray, vec: np.ndarray, cand: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best of an engine's candidate rows by their exact float32 cosine: highest
    first, lower row first on ties (the exact search's order)."""
    rows = np.unique(cand)
    scores = dense_dot(mat[rows], vec)
    order = np.lexsort((rows, -scores))[:k]
    return rows[order].astype(np.int64), scores[order]


def build_hnsw(vectors: np.ndarray, out: Path, config: AnnConfig) -> None:
    """Build the HNSW graph over `vectors` and write it atomically to `out`. Single-threaded,
    so the same vectors always give the same graph (faiss' parallel insertion does not)."""
    faiss = _faiss()
    n, dim = vectors.shape
    index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = config.hnsw_ef_construction
    for s in range(0, n, 1 << 16):
        index.add(np.ascontiguousarray(vectors[s : s + (1 << 16)], dtype=np.float32))
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_ann(folder: Path, config: AnnConfig, fields: dict[str, str]) -> list[str]:
    """Build the HNSW files the config asks for (`fields`: field -> vector file in
    `folder`); returns the fields that got one."""
    built = []
    for field, name in fields.items():
        vecs = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        if vecs.ndim == 2 and vecs.shape[0] >= config.hnsw_min_rows and vecs.shape[1] > 0:
            build_hnsw(vecs, folder / hnsw_file(field), config)
            built.append(field)
    return built


class DenseEngines:
    """The faiss engine of each dense field of one loaded index, made on first use."""

    def __init__(
        self,
        folder: Path,
        config: AnnConfig,
        files: dict[str, int],
        content: ContentChecks | None = None,
    ):
        self._folder = folder
        self.config = config
        self._files = files
        self._content = content
        self._engines: dict[str, Fp16Scan | Hnsw | None] = {}
        self._lock = threading.Lock()

    def engine(self, field: str, mat: np.ndarray) -> Fp16Scan | Hnsw | None:
        with self._lock:
            if field in self._engines:
                return self._engines[field]
            found: Fp16Scan | Hnsw | None = None
            name = hnsw_file(field)
            if name in self._files:
                if self._content is not None:
                    self._content.whole(name)
                found = Hnsw(
                    self._folder / name, mat.shape[0], mat.shape[1], self.config.hnsw_ef_search
                )
            elif self.config.scan == "auto" and mat.size >= FP16_MIN_FLOATS:
                found = Fp16Scan(mat)
            self._engines[field] = found
            return found


__all__ = [
    "FP16_MIN_FLOATS",
    "AnnConfig",
    "DenseEngines",
    "Fp16Scan",
    "Hnsw",
    "build_hnsw",
    "hnsw_file",
    "rescore",
    "write_ann",
]
