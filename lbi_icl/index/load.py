"""Load an index directory: `load_index(path) -> ExampleIndex`.

Loading reads JSON and `.npy` files only (never a pickle, never `eval`), memory-maps the big
parts (vectors, step table, BM25 arrays) and checks every file against the manifest's
recorded size, so a missing, truncated or foreign file fails with its name. Structural
invariants are checked at every load and files changed since the last verify are hashed
(`lbi_icl.index.verify`), so a damaged file fails with its name too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ValidationError

from lbi_icl.data import Trajectory
from lbi_icl.embed import (
    Embedder,
    EmbedderError,
    backends_compatible,
    embedder_backend,
    load_embedder,
)
from lbi_icl.index import layout as L
from lbi_icl.index.ann import DenseEngines, rescore
from lbi_icl.index.bm25 import BM25Index, Bm25sIndex, RankBm25Index, top_candidates
from lbi_icl.index.content import ContentChecks
from lbi_icl.index.dense import dense_dot
from lbi_icl.index.docs import Chunk
from lbi_icl.index.errors import IndexFormatError, IndexMismatchError
from lbi_icl.index.invariants import check_finite, check_offsets, check_range, check_step_table
from lbi_icl.index.manifest import FORMAT_VERSION, IndexManifest
from lbi_icl.index.npyio import load_npy, read_json
from lbi_icl.index.store import TextColumn
from lbi_icl.index.verify import check_changed_files, verify_files, write_stamp

log = logging.getLogger(__name__)

DenseField = Literal["instruction", "description", "docs"]
_VEC_FILES = {
    "instruction": L.VEC_INSTRUCTION,
    "description": L.VEC_DESCRIPTION,
    "docs": L.VEC_DOCS,
}


def read_manifest(path: str | Path) -> IndexManifest:
    folder = Path(path)
    if not folder.is_dir():
        raise IndexFormatError(f"{folder}: no such index directory")
    mpath = folder / L.MANIFEST
    raw = read_json(mpath)
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f"{mpath}: index format version {version!r}, this lbi_icl reads version "
            f"{FORMAT_VERSION}; rebuild it with `lbi index build`"
        )
    try:
        return IndexManifest.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise IndexFormatError(f"{mpath}: field '{loc}': {first['msg']}") from e


# what ExampleIndex reads whole when it opens (their content is checked then)
_READ_WHOLE = (
    L.EXAMPLE_IDS,
    L.EXAMPLE_OFFSETS,
    L.EXAMPLE_STEPS,
    L.META_VALUES,
    L.META_CODES,
    L.STEP_EXAMPLE,
    L.STEP_POS,
    f"{L.STEP_OBS}.off.npy",
    f"{L.STEP_ACT}.off.npy",
)


def _check_files(folder: Path, manifest: IndexManifest) -> None:
    for rel, size in manifest.files.items():
        p = folder / rel
        if not p.exists():
            raise IndexFormatError(f"{p}: missing index file (listed in {L.MANIFEST})")
        actual = p.stat().st_size
        if actual != size:
            state = "truncated" if actual < size else "changed"
            raise IndexFormatError(
                f"{p}: {state} ({actual} bytes, {L.MANIFEST} recorded {size}); rebuild the index"
            )


class ExampleIndex:
    """A loaded index: examples, step table, BM25 and dense parts, and the embedder."""

    def __init__(self, path: Path, manifest: IndexManifest, embedder: Embedder | None = None):
        self.path = path
        self.manifest = manifest
        self._embedder = embedder
        # same-size damage (bit rot) in what this load reads whole is caught now; what is
        # read piecewise is checked block by block on first read (content.py)
        self.content = ContentChecks.load(path)
        if self.content is not None:
            for rel in _READ_WHOLE:
                self.content.whole(rel)
        ids = read_json(path / L.EXAMPLE_IDS)
        if not isinstance(ids, list) or len(ids) != manifest.counts.examples:
            raise IndexFormatError(
                f"{path / L.EXAMPLE_IDS}: expected {manifest.counts.examples} ids"
            )
        self.ids: list[str] = [str(i) for i in ids]
        self._idx = {eid: i for i, eid in enumerate(self.ids)}
        self._ex_offsets = load_npy(path / L.EXAMPLE_OFFSETS, dtype=np.int64)
        self.example_steps = load_npy(path / L.EXAMPLE_STEPS, dtype=np.int64)
        meta = read_json(path / L.META_VALUES)
        self.meta_values: dict[str, list[str | None]] = meta["values"]
        self.meta_codes = load_npy(path / L.META_CODES, dtype=np.int32)
        self.step_example = load_npy(path / L.STEP_EXAMPLE, dtype=np.int32)
        self.step_pos = load_npy(path / L.STEP_POS, dtype=np.int32)
        n, s = manifest.counts.examples, manifest.counts.steps
        for name, arr, want in (
            (L.EXAMPLE_OFFSETS, self._ex_offsets, n + 1),
            (L.EXAMPLE_STEPS, self.example_steps, n + 1),
            (L.STEP_EXAMPLE, self.step_example, s),
            (L.STEP_POS, self.step_pos, s),
        ):
            if len(arr) != want:
                raise IndexFormatError(f"{path / name}: {len(arr)} rows, expected {want}")
        # cheap structural invariants (vectorized): a flipped byte is an error, not a hit
        # attributed to the wrong example
        examples_size = (path / L.EXAMPLES).stat().st_size
        check_offsets(path / L.EXAMPLE_OFFSETS, self._ex_offsets, n, examples_size)
        check_step_table(path, self.example_steps, self.step_example, self.step_pos, n)
        if self.meta_codes.shape != (n, len(L.META_COLUMNS)):
            raise IndexFormatError(f"{path / L.META_CODES}: shape {self.meta_codes.shape}")
        sizes = np.asarray([len(self.meta_values.get(c, [])) for c in L.META_COLUMNS])
        check_range(path / L.META_CODES, self.meta_codes, sizes, "value codes")
        self.observations = TextColumn(path, L.STEP_OBS, expected_rows=s, content=self.content)
        self.actions = TextColumn(path, L.STEP_ACT, expected_rows=s, content=self.content)
        self._examples_fh = open(path / L.EXAMPLES, "rb")  # noqa: SIM115 - closed in close()
        # Runner workers share one index across threads: examples are read with os.pread
        # (no shared file position) and both LRU caches are guarded by this lock.
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[int, Trajectory] = OrderedDict()
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors: dict[str, np.ndarray] = {}
        self.dense_engines = DenseEngines(
            path, self.manifest.config.ann, self.manifest.files, self.content
        )
        self._bm25: dict[str, BM25Index] = {}
        self._chunks: list[Chunk] | None = None
        self._meta_lookup: dict[str, dict[str | None, int]] = {}

    # -- examples ---------------------------------------------------------------------
    @property
    def n_examples(self) -> int:
        return len(self.ids)

    @property
    def n_steps(self) -> int:
        return len(self.step_example)

    def index_of(self, example_id: str) -> int:
        try:
            return self._idx[example_id]
        except KeyError:
            raise KeyError(f"{self.path}: no example with id {example_id!r}") from None

    def get(self, example_id: str) -> Trajectory:
        return self.get_by_idx(self.index_of(example_id))

    def get_by_idx(self, i: int) -> Trajectory:
        with self._cache_lock:
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
        a, b = int(self._ex_offsets[i]), int(self._ex_offsets[i + 1])
        if self.content is not None:
            self.content.span(L.EXAMPLES, a, b)
        raw = os.pread(self._examples_fh.fileno(), b - a, a)
        try:
            traj = Trajectory.model_validate_json(raw)
        except ValidationError as e:
            raise IndexFormatError(f"{self.path / L.EXAMPLES}: example #{i + 1} is corrupt") from e
        with self._cache_lock:
            self._cache[i] = traj
            if len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return traj

    def meta(self, column: str, i: int) -> str | None:
        c = L.META_COLUMNS.index(column)
        return self.meta_values[column][int(self.meta_codes[i, c])]

    def meta_code(self, column: str, value: str | None) -> int | None:
        """The code of `value` in a meta column, or None when no example has it."""
        lookup = self._meta_lookup.get(column)
        if lookup is None:
            lookup = {v: i for i, v in enumerate(self.meta_values[column])}
            self._meta_lookup[column] = lookup
        return lookup.get(value)

    def meta_column(self, column: str) -> np.ndarray:
        return self.meta_codes[:, L.META_COLUMNS.index(column)]

    # -- embedder and dense search ---------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            spec = self.manifest.embedder.spec
            try:
                self._embedder = load_embedder(spec)
            except EmbedderError as e:
                raise IndexMismatchError(
                    f"{self.path / L.MANIFEST}: cannot load the index's embedder "
                    f"{self.manifest.embedder.id!r} ({e})"
                ) from e
            _check_embedder(self.path, self.manifest, self._embedder)
        return self._embedder

    @property
    def query_backend(self) -> str | None:
        """The backend of the embedder in use ('torch', 'openvino', ...); None before one is
        loaded (no dense strategy ran) or for embedders without one (hash, custom)."""
        return embedder_backend(self._embedder) if self._embedder is not None else None

    def embed_query(self, text: str) -> np.ndarray:
        with self._cache_lock:
            vec = self._qcache.get(text)
        if vec is None:
            vec = self.embedder.embed([text])[0]
            with self._cache_lock:
                self._qcache[text] = vec
                if len(self._qcache) > 1024:
                    self._qcache.popitem(last=False)
        return vec

    def vectors(self, field: DenseField) -> np.ndarray:
        arr = self._vectors.get(field)
        if arr is None:
            path = self.path / _VEC_FILES[field]
            arr = load_npy(path, dtype=np.float32)
            want = self.manifest.counts.chunks if field == "docs" else self.n_examples
            dim = self.manifest.embedder.dim
            if arr.ndim != 2 or arr.shape[0] != want or (want and arr.shape[1] != dim):
                raise IndexFormatError(
                    f"{path}: shape {arr.shape}, expected ({want}, {dim}) from the manifest"
                )
            if self.content is not None and path.name in self.content.files:
                self.content.whole(path.name)  # exact: also catches finite wrong values
            else:
                check_finite(path, arr)
            self._vectors[field] = arr
        return arr

    def check_vectors(self) -> None:
        """Open (and so content-check) every dense field now, before the first query."""
        for field in ("instruction", "description", "docs"):
            if field != "docs" or self.manifest.counts.chunks:
                self.vectors(field)  # type: ignore[arg-type]

    def dense_scores(self, field: DenseField, query: str | np.ndarray) -> np.ndarray:
        """Cosine similarity of the query with every row of a dense field.

        Computed by `index.dense.dense_dot` (einsum on the calling thread, two row halves
        on two threads for big matrices) rather than `mat @ vec`: a BLAS gemv wakes
        OpenBLAS' thread pool, and on a busy 2-core machine (or with several episodes
        retrieving at once) those threads wait for a core — measured at 83k x 64 under load:
        16 / 35 ms p50 / p95 for `@` against 2.4 / 3.0 for einsum
        (benchmarks/retrieval/README.md). Same top-k; scores differ from BLAS' by float
        rounding only (summation order)."""
        vec = self.embed_query(query) if isinstance(query, str) else query
        mat = self.vectors(field)
        if mat.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        return dense_dot(mat, vec)

    def dense_top_k(
        self, field: DenseField, query: str | np.ndarray, k: int, *, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k rows of a dense field most similar to the query: highest cosine first, lower
        row first on ties. Scores are always the exact float32 cosines; for a big field the
        candidate rows come from a faiss engine (`index.ann`: fp16 scan, or an HNSW graph
        when the index has one) unless `exact` or k exceeds the engine's `max_k`."""
        vec = self.embed_query(query) if isinstance(query, str) else query
        mat = self.vectors(field)
        n = mat.shape[0]
        if n == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        k = min(k, n)
        engine = (
            None
            if exact or k > self.dense_engines.config.max_k
            else (self.dense_engines.engine(field, mat))
        )
        if engine is not None:
            return rescore(mat, vec, engine.candidates(vec, k), k)
        scores = self.dense_scores(field, vec)
        cand = top_candidates(scores, k)
        if len(cand) > k:
            part = scores[cand]
            kth = part[np.argpartition(-part, k - 1)[k - 1]]
            cand = cand[part >= kth]  # every row tied with the k-th: ties go by row id
        order = np.lexsort((cand, -scores[cand]))
        rows = cand[order][:k]
        return rows.astype(np.int64), scores[rows]

    # -- BM25 ------------------------------------------------------------------------
    def bm25(self, field: Literal["observation", "docs"]) -> BM25Index:
        engine = self._bm25.get(field)
        if engine is None:
            folder = self.path / (L.BM25_STEPS if field == "observation" else L.BM25_DOCS)
            rows = self.n_steps if field == "observation" else self.manifest.counts.chunks
            if self.manifest.bm25.engine == "rank-bm25":
                texts = self.observations if field == "observation" else self._chunk_texts()
                engine = RankBm25Index(iter(texts), self.manifest.bm25)
            else:
                engine = Bm25sIndex(folder, rows, content=self.content)
            self._bm25[field] = engine
        return engine

    # -- docs ------------------------------------------------------------------------
    @property
    def chunks(self) -> list[Chunk]:
        if self._chunks is None:
            from lbi_icl.data.jsonl import DataError, read_jsonl

            path = self.path / L.DOC_CHUNKS
            if not path.exists():
                self._chunks = []
            else:
                if self.content is not None:
                    self.content.whole(L.DOC_CHUNKS)
                try:
                    self._chunks = list(read_jsonl(path, Chunk))
                except DataError as e:
                    raise IndexFormatError(f"{path}: corrupt chunk file ({e})") from e
        return self._chunks

    def _chunk_texts(self) -> list[str]:
        return [c.text for c in self.chunks]

    # -- lifecycle -------------------------------------------------------------------
    def warm(self, *, dense: bool = True) -> None:
        """Load lazily opened parts now (BM25, vectors, the embedder) so the first query's
        latency measures retrieval, not loading."""
        self.bm25("observation")
        if self.manifest.counts.chunks:
            self.bm25("docs")
        if dense:
            for field in ("instruction", "description", "docs"):
                self.vectors(field)  # type: ignore[arg-type]
            self.embed_query("warm up")

    def close(self) -> None:
        self._examples_fh.close()

    @cached_property
    def summary(self) -> dict[str, object]:
        m = self.manifest
        return {
            "path": str(self.path),
            "format_version": m.format_version,
            "lbi_icl_version": m.lbi_icl_version,
            "embedder": m.embedder.model_dump(),
            "bm25": m.bm25.model_dump(),
            "counts": m.counts.model_dump(),
            "description_field": m.description_field,
            "chunking": {"words": m.config.chunk_words, "overlap": m.config.chunk_overlap},
            "content_hash": m.content_hash,
            "built_at": m.built_at,
            "updated_at": m.updated_at,
            "build_seconds": m.build_seconds,
            "bytes_on_disk": sum(m.files.values()),
            "envs": [v for v in self.meta_values.get("env", []) if v is not None],
        }


def _check_embedder(path: Path, manifest: IndexManifest, embedder: Embedder) -> None:
    want = manifest.embedder
    if embedder.id != want.id or embedder.dim != want.dim:
        raise IndexMismatchError(
            f"{path / L.MANIFEST}: index was built with embedder {want.id!r} "
            f"(dim {want.dim}); got {embedder.id!r} (dim {embedder.dim}). "
            f"Use the same embedder or rebuild the index."
        )
    got = embedder_backend(embedder)
    if got is not None and not backends_compatible(want.backend, got):
        raise IndexMismatchError(
            f"{path / L.MANIFEST}: index vectors were computed with the "
            f"{want.backend or 'torch'!r} backend of {want.id!r}; got backend {got!r}, which "
            f"is not declared compatible (lbi_icl.embed.COMPATIBLE_BACKENDS). Use --embedder "
            f"{want.spec or want.id} or rebuild the index."
        )


def load_index(
    path: str | Path, *, embedder: Embedder | None = None, verify: bool = False
) -> ExampleIndex:
    """Open an index directory. `embedder` must match the manifest's (checked now);
    without one, the manifest's embedder is recreated on first use. Files changed since the
    last verify are hashed against the manifest; `verify=True` hashes every file."""
    folder = Path(path)
    manifest = read_manifest(folder)
    _check_files(folder, manifest)
    if verify:
        bad = [r for r in verify_files(folder, manifest) if not r.ok]
        if bad:
            raise IndexFormatError(f"{folder / bad[0].file}: {bad[0].problem}; rebuild the index")
        write_stamp(folder, list(manifest.files))
    else:
        check_changed_files(folder, manifest)
    if embedder is not None:
        _check_embedder(folder, manifest, embedder)
    return ExampleIndex(folder, manifest, embedder)
