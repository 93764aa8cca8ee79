"""Build an index directory from trajectories (and optional documentation), or append to one.

Every build writes into a fresh temporary folder beside the target and swaps it into place
at the end, so an interrupted build or `add` never leaves a half-written index behind.
See `lbi_icl.index.layout` for the files; docs/retrieval.md for
the fields each part is built from.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from lbi_icl.data import Document, Trajectory
from lbi_icl.embed import Embedder, load_embedder
from lbi_icl.index import layout as L
from lbi_icl.index.ann import write_ann
from lbi_icl.index.atomic import remove_stale_temps as _remove_stale_temps
from lbi_icl.index.atomic import swap_into_place as _swap_into_place
from lbi_icl.index.atomic import temp_dir as _temp_dir
from lbi_icl.index.bm25 import build_bm25s, extend_bm25s
from lbi_icl.index.errors import IndexBuildError, IndexFormatError
from lbi_icl.index.manifest import Counts, IndexConfig, IndexManifest, InputFile
from lbi_icl.index.store import TextColumn
from lbi_icl.index.verify import FileHasher, file_sha256
from lbi_icl.index.write import (
    ExampleWriter,
    _embed_to,
    _finish_manifest,
    _start_hashing,
    _write_docs,
    description_text,
    task_label,
)
from lbi_icl.util.locks import hold

if TYPE_CHECKING:
    from lbi_icl.index.load import ExampleIndex

__all__ = [
    "IndexBuildError",
    "add_to_index",
    "build_index",
    "build_index_from",
    "description_text",
    "task_label",
]

log = logging.getLogger(__name__)

# dense fields that get an HNSW graph when big enough (docs chunks stay exact)
ANN_FIELDS = {"instruction": L.VEC_INSTRUCTION, "description": L.VEC_DESCRIPTION}

_file_sha256 = file_sha256


def build_index_from(
    trajectories: Iterable[Trajectory],
    out: str | Path,
    docs: Iterable[Document] | None = None,
    *,
    embedder: Embedder | None = None,
    config: IndexConfig | None = None,
    inputs: list[InputFile] | None = None,
) -> IndexManifest:
    """Build an index at `out` from in-memory (or streamed) trajectories and documents."""
    started = time.perf_counter()
    out = Path(out)
    config = config or IndexConfig()
    embedder = embedder or load_embedder(None)
    with hold(out):
        _remove_stale_temps(out)
        return _build_locked(trajectories, out, docs, embedder, config, inputs, started)


def _build_locked(
    trajectories: Iterable[Trajectory],
    out: Path,
    docs: Iterable[Document] | None,
    embedder: Embedder,
    config: IndexConfig,
    inputs: list[InputFile] | None,
    started: float,
) -> IndexManifest:
    tmp = _temp_dir(out)
    hasher: FileHasher | None = None
    try:
        writer = ExampleWriter(tmp, config)
        for traj in trajectories:
            writer.add(traj)
        examples_sha256 = writer.hash.hexdigest()  # before documents are hashed into it
        writer.close()
        hasher = _start_hashing(tmp, examples_sha256)
        _embed_to(tmp / L.VEC_INSTRUCTION, embedder, writer.instructions, None)
        _embed_to(tmp / L.VEC_DESCRIPTION, embedder, writer.descriptions, None)
        n_steps = writer.steps
        build_bm25s(TextColumn(tmp, L.STEP_OBS).iter_texts(), tmp / L.BM25_STEPS, config.bm25)
        n_docs, n_chunks = _write_docs(tmp, docs or [], embedder, config, writer.hash)
        write_ann(tmp, config.ann, ANN_FIELDS)
        manifest = _finish_manifest(
            tmp,
            embedder=embedder,
            config=config,
            counts=Counts(
                examples=len(writer.ids), steps=n_steps, documents=n_docs, chunks=n_chunks
            ),
            content_hash=writer.hash.hexdigest(),
            examples_sha256=examples_sha256,
            inputs=inputs or [],
            started=started,
            hasher=hasher,
        )
        _swap_into_place(tmp, out)
    except BaseException:
        if hasher is not None:
            hasher.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built index %s: %s", out, manifest.counts)
    return manifest


def build_index(
    trajectories: list[Path] | list[str],
    out: str | Path,
    *,
    docs: list[Path] | list[str] | None = None,
    embedder: Embedder | None = None,
    config: IndexConfig | None = None,
) -> IndexManifest:
    """Build an index from trajectory JSONL files (and documentation JSONL files)."""
    from lbi_icl.data.checks import read_checked_documents, read_checked_trajectories

    traj_paths = [Path(p) for p in trajectories]
    doc_paths = [Path(p) for p in docs or []]
    for p in [*traj_paths, *doc_paths]:
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file")
        if p.is_dir():
            raise IndexBuildError(f"{p}: is a directory, expected a JSONL file")
    inputs = [
        InputFile(path=str(p), kind="trajectories", sha256=_file_sha256(p)) for p in traj_paths
    ]
    inputs += [InputFile(path=str(p), kind="documents", sha256=_file_sha256(p)) for p in doc_paths]
    # the same checks as `lbi data validate`: what it flags, the build refuses
    return build_index_from(
        read_checked_trajectories(*traj_paths),
        out,
        read_checked_documents(*doc_paths) if doc_paths else None,
        embedder=embedder,
        config=config,
        inputs=inputs,
    )


def add_to_index(
    path: str | Path,
    trajectories: list[Path] | list[str] | Iterable[Trajectory],
    *,
    embedder: Embedder | None = None,
) -> IndexManifest:
    """Append examples to an existing index: their vectors are appended (old ones reused),
    the step table and BM25 are rebuilt, docs are copied; the swap is atomic.

    Fast path (indexes whose manifest records `examples_sha256`): the existing examples and
    step blobs are copied byte for byte while their hash is checked against the manifest,
    and only the new examples are parsed and written. Older indexes, or a new example whose
    id an existing example names as its (missing) parent, take the full path that re-reads
    and re-validates every existing example. Both give the same index."""
    path = Path(path)
    with hold(path):
        _remove_stale_temps(path)
        return _add_locked(path, trajectories, embedder)


def _add_locked(
    path: Path,
    trajectories: list[Path] | list[str] | Iterable[Trajectory],
    embedder: Embedder | None,
) -> IndexManifest:
    from lbi_icl.data.checks import read_checked_trajectories
    from lbi_icl.index.load import load_index

    started = time.perf_counter()
    index = load_index(path, embedder=embedder)
    old = index.manifest
    items = list(trajectories)
    inputs = list(old.inputs)
    if items and isinstance(items[0], str | Path):
        paths = [Path(p) for p in items]  # type: ignore[arg-type]
        for p in paths:
            if not p.exists():
                raise FileNotFoundError(f"{p}: no such file")
            if p.is_dir():
                raise IndexBuildError(f"{p}: is a directory, expected a JSONL file")
        inputs += [
            InputFile(path=str(p), kind="trajectories", sha256=_file_sha256(p)) for p in paths
        ]
        new: list[Trajectory] = list(read_checked_trajectories(*paths))
    else:
        new = items  # type: ignore[assignment]
    fast = old.examples_sha256 is not None and not _names_missing_parent(index, new)
    tmp = _temp_dir(path)
    try:
        if fast:
            writer = _continue_examples(index, path, tmp)
            skip = 0
        else:
            log.info("%s: re-reading every example (no examples hash, or lineage changes)", path)
            writer = ExampleWriter(tmp, old.config)
            for i in range(index.n_examples):
                writer.add(index.get_by_idx(i))
            skip = index.n_examples
        for traj in new:
            writer.add(traj)
        examples_sha256 = writer.hash.hexdigest()
        writer.close()
        hasher = _start_hashing(tmp, examples_sha256)
        emb = index.embedder
        _embed_to(
            tmp / L.VEC_INSTRUCTION, emb, writer.instructions[skip:], index.vectors("instruction")
        )
        _embed_to(
            tmp / L.VEC_DESCRIPTION, emb, writer.descriptions[skip:], index.vectors("description")
        )
        _bm25_after_add(path, tmp, index.n_steps if fast else None, old.config)
        for rel in old.files:
            if rel.startswith(L.DOC_PREFIXES):
                dst = tmp / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path / rel, dst)
        write_ann(tmp, old.config.ann, ANN_FIELDS)  # the graph is rebuilt over all rows
        content = hashlib.sha256(old.content_hash.encode() + writer.hash.digest()).hexdigest()
        manifest = _finish_manifest(
            tmp,
            embedder=emb,
            config=old.config,
            counts=Counts(
                examples=len(writer.ids),
                steps=writer.steps,
                documents=old.counts.documents,
                chunks=old.counts.chunks,
            ),
            content_hash=content,
            examples_sha256=examples_sha256,
            inputs=inputs,
            started=started,
            hasher=hasher,
            built_at=old.built_at,
        )
        index.close()
        _swap_into_place(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _bm25_after_add(src: Path, tmp: Path, old_steps: int | None, config: IndexConfig) -> None:
    """BM25 over all step observations in `tmp`: appended to the saved counts of `src`
    (only the new observations are tokenized) when the existing steps were copied as they
    are (`old_steps` given) and `src` has those counts; otherwise built from every row."""
    column = TextColumn(tmp, L.STEP_OBS)
    if old_steps is not None:
        new_rows = (column[i] for i in range(old_steps, len(column)))
        if extend_bm25s(src / L.BM25_STEPS, new_rows, tmp / L.BM25_STEPS, config.bm25) is not None:
            return
        shutil.rmtree(tmp / L.BM25_STEPS, ignore_errors=True)
    build_bm25s(column.iter_texts(), tmp / L.BM25_STEPS, config.bm25)


def _names_missing_parent(index: ExampleIndex, new: list[Trajectory]) -> bool:
    """True if a new example's id is the root an existing example recorded for a parent
    that was not in the index: adding it changes that example's lineage (full path)."""
    roots = set(index.meta_values.get("root", [])) - {None}
    return bool(roots) and any(t.id in roots and t.id not in index._idx for t in new)


def _continue_examples(index: ExampleIndex, src: Path, tmp: Path) -> ExampleWriter:
    """Copy the existing examples and step blobs into `tmp`, checking the examples' sha256
    against the manifest on the way, and return a writer that appends after them."""
    want = index.manifest.examples_sha256
    h = hashlib.sha256()
    with open(src / L.EXAMPLES, "rb") as fin, open(tmp / L.EXAMPLES, "wb") as fout:
        for block in iter(lambda: fin.read(1 << 22), b""):
            h.update(block)
            fout.write(block)
    if h.hexdigest() != want:
        raise IndexFormatError(
            f"{src / L.EXAMPLES}: content changed since the index was written (sha256 "
            f"{h.hexdigest()[:12]}..., {L.MANIFEST} recorded {str(want)[:12]}...); "
            "rebuild the index"
        )
    for name in (L.STEP_OBS, L.STEP_ACT):
        shutil.copyfile(src / f"{name}.bin", tmp / f"{name}.bin")
    writer = ExampleWriter(tmp, index.manifest.config, base=index)
    writer.hash = h
    return writer
