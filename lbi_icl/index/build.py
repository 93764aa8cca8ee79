"""Build an index directory from trajectories (and optional documentation), or append to one.

Every build writes into a fresh temporary folder beside the target and swaps it into place
at the end, so an interrupted build or `add` never leaves a half-written index behind.
See `lbi_icl.index.layout` for the files; the README's "Indexes and retrieval" section for
the fields each part is built from.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import time
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lbi_icl import __version__
from lbi_icl.data import Document, Trajectory
from lbi_icl.embed import Embedder, embedder_backend, embedder_spec, load_embedder
from lbi_icl.index import layout as L
from lbi_icl.index.atomic import IndexBuildError
from lbi_icl.index.atomic import remove_stale_temps as _remove_stale_temps
from lbi_icl.index.atomic import swap_into_place as _swap_into_place
from lbi_icl.index.atomic import temp_dir as _temp_dir
from lbi_icl.index.bm25 import build_bm25s, extend_bm25s
from lbi_icl.index.docs import chunk_document
from lbi_icl.index.manifest import (
    Counts,
    EmbedderInfo,
    IndexConfig,
    IndexManifest,
    InputFile,
)
from lbi_icl.index.store import (
    IndexFormatError,
    TextColumn,
    TextColumnWriter,
    save_npy,
    write_json,
)
from lbi_icl.index.verify import NOT_LISTED, FileHasher, file_sha256, write_stamp
from lbi_icl.locks import hold

if TYPE_CHECKING:
    from lbi_icl.index.load import ExampleIndex

log = logging.getLogger(__name__)


def description_text(traj: Trajectory, max_actions: int = 30) -> str:
    """What a model-written query is matched against: the instruction and the actions taken."""
    actions = traj.actions()[:max_actions]
    more = " ..." if len(traj.steps) > max_actions else ""
    return f"{traj.instruction}\nActions: {'; '.join(actions)}{more}"


def task_label(task_id: str | None, metadata: dict[str, object]) -> str | None:
    """A trajectory's task *family* (for same-task precision): `metadata['task']` if set,
    else the task id without its last '/'-separated part (the seed or variation)."""
    explicit = metadata.get("task")
    if isinstance(explicit, str) and explicit:
        return explicit
    if task_id is None:
        return None
    return task_id.rsplit("/", 1)[0] if "/" in task_id else task_id


_file_sha256 = file_sha256


class _ExampleWriter:
    """Streams examples to disk and keeps only the small per-example columns in memory."""

    def __init__(self, folder: Path, config: IndexConfig, *, base: ExampleIndex | None = None):
        """`base`: an index whose examples.jsonl and step blobs were already copied into
        `folder` (and whose examples' hash `self.hash` must continue, set by the caller):
        its examples are taken as they are, with their lineage already resolved, and only
        the examples given to `add` are new (`instructions` / `descriptions` hold theirs)."""
        self.folder = folder
        self.config = config
        self.hash = hashlib.sha256()
        self._fh = open(folder / L.EXAMPLES, "ab" if base else "wb", buffering=1 << 20)  # noqa: SIM115
        self._offsets = array("q", [0])
        self._step_offsets = array("q", [0])
        self.ids: list[str] = []
        self._seen: dict[str, int] = {}
        self.instructions: list[str] = []
        self.descriptions: list[str] = []
        self.meta: dict[str, list[str | None]] = {c: [] for c in L.META_COLUMNS}
        self._parents: list[str | None] = []  # of the new examples only
        self._step_example = array("i")
        self._step_pos = array("i")
        self._pos = 0
        self._fixed = 0  # examples taken from `base` (lineage resolved already)
        if base is None:
            self._obs = TextColumnWriter(folder, L.STEP_OBS)
            self._act = TextColumnWriter(folder, L.STEP_ACT)
            return
        self._fixed = base.n_examples
        self._offsets = array("q", np.asarray(base._ex_offsets, dtype=np.int64).tobytes())
        self._pos = int(self._offsets[-1])
        if self._fh.tell() != self._pos:
            raise IndexFormatError(f"{folder / L.EXAMPLES}: size does not match its offsets")
        self._step_offsets = array("q", np.asarray(base.example_steps, dtype=np.int64).tobytes())
        self._step_example = array("i", np.asarray(base.step_example, np.int32).tobytes())
        self._step_pos = array("i", np.asarray(base.step_pos, np.int32).tobytes())
        self.ids = list(base.ids)
        self._seen = {eid: i for i, eid in enumerate(self.ids)}
        for c, col in enumerate(L.META_COLUMNS):
            values = base.meta_values[col]
            self.meta[col] = [values[k] for k in np.asarray(base.meta_codes[:, c]).tolist()]
        self._obs = TextColumnWriter(folder, L.STEP_OBS, resume=base.observations.offsets)
        self._act = TextColumnWriter(folder, L.STEP_ACT, resume=base.actions.offsets)

    def add(self, traj: Trajectory) -> None:
        idx = len(self.ids)
        if traj.id in self._seen:
            raise IndexBuildError(
                f"duplicate example id {traj.id!r} (examples #{self._seen[traj.id] + 1} and "
                f"#{idx + 1}); ids must be unique within an index"
            )
        if not traj.steps:
            raise IndexBuildError(f"example {traj.id!r} (#{idx + 1}) has no steps")
        try:
            line = (traj.model_dump_json() + "\n").encode("utf-8")
        except ValueError as e:  # PydanticSerializationError: a lone surrogate
            raise IndexBuildError(f"example {traj.id!r} (#{idx + 1}): not valid text ({e})") from e
        self._seen[traj.id] = idx
        self.hash.update(line)
        self._fh.write(line)
        self._pos += len(line)
        self._offsets.append(self._pos)
        self.ids.append(traj.id)
        self.instructions.append(traj.instruction)
        self.descriptions.append(description_text(traj, self.config.description_max_actions))
        self.meta["env"].append(traj.env)
        self.meta["outcome"].append(traj.outcome)
        self.meta["kind"].append(traj.source_kind or "unknown")
        self.meta["task"].append(traj.task_id)
        explicit = traj.metadata.get("task")
        self.meta["label"].append(explicit if isinstance(explicit, str) and explicit else None)
        self.meta["root"].append(None)
        parent = traj.source.get("parent_id")
        self._parents.append(str(parent) if parent is not None else None)
        n = len(traj.steps)
        self._obs.add_all([step.observation for step in traj.steps])
        self._act.add_all([step.action for step in traj.steps])
        self._step_example.extend([idx] * n)
        self._step_pos.extend(range(n))
        self._step_offsets.append(len(self._step_example))

    def _resolve_lineage(self) -> None:
        """Root source trajectory and task of each example, following `source.parent_id`.
        Examples taken from a base index are resolved already: a walk that reaches one ends
        with its root and (if still missing) its task; their chains never lead to a new
        example (`add_to_index` checks that no new id is a base example's missing parent)."""
        n, fixed = len(self.ids), self._fixed
        root = self.meta["root"]
        task = self.meta["task"]
        for i in range(fixed, n):
            seen = {i}
            j: int | None = i
            found_task = task[i]
            top = self.ids[i]
            while j is not None:
                if j < fixed:
                    top = root[j]  # type: ignore[assignment]
                    if found_task is None:
                        found_task = task[j]
                    break
                parent = self._parents[j - fixed]
                if parent is None:
                    top = self.ids[j]
                    break
                nxt = self._seen.get(parent)
                if nxt is None or nxt in seen:
                    top = parent
                    break
                seen.add(nxt)
                j = nxt
                if found_task is None:
                    found_task = task[j]
            root[i] = top
            task[i] = found_task
        self.meta["label"] = [
            label or task_label(task[i], {}) for i, label in enumerate(self.meta["label"])
        ]

    def close(self) -> None:
        self._resolve_lineage()
        self._fh.close()
        self._obs.close()
        self._act.close()
        save_npy(self.folder / L.EXAMPLE_OFFSETS, np.frombuffer(self._offsets, dtype=np.int64))
        save_npy(self.folder / L.EXAMPLE_STEPS, np.frombuffer(self._step_offsets, dtype=np.int64))
        save_npy(self.folder / L.STEP_EXAMPLE, np.frombuffer(self._step_example, dtype=np.int32))
        save_npy(self.folder / L.STEP_POS, np.frombuffer(self._step_pos, dtype=np.int32))
        write_json(self.folder / L.EXAMPLE_IDS, self.ids)
        values: dict[str, list[str | None]] = {}
        codes = np.zeros((len(self.ids), len(L.META_COLUMNS)), dtype=np.int32)
        for c, col in enumerate(L.META_COLUMNS):
            table: dict[str | None, int] = {}
            for i, v in enumerate(self.meta[col]):
                codes[i, c] = table.setdefault(v, len(table))
            values[col] = list(table)
        write_json(self.folder / L.META_VALUES, {"columns": list(L.META_COLUMNS), "values": values})
        save_npy(self.folder / L.META_CODES, codes)

    @property
    def steps(self) -> int:
        return len(self._step_example)


def _start_hashing(tmp: Path, examples_sha256: str) -> FileHasher:
    """Hash the example and step files (final once the writer is closed) in the
    background; examples.jsonl's digest is the writer's own, over the same bytes."""
    hasher = FileHasher(tmp)
    hasher.known(L.EXAMPLES, examples_sha256)
    hasher.submit_present()
    return hasher


def _embed_to(path: Path, embedder: Embedder, texts: list[str], prev: np.ndarray | None) -> None:
    new = embedder.embed(texts) if texts else np.zeros((0, embedder.dim), dtype=np.float32)
    vecs = new if prev is None else np.concatenate([np.asarray(prev), new])
    save_npy(path, vecs.astype(np.float32, copy=False))


def _write_docs(
    folder: Path, docs: Iterable[Document], embedder: Embedder, config: IndexConfig, h: object
) -> tuple[int, int]:
    chunks_text: list[str] = []
    n_docs = 0
    seen: set[str] = set()
    from lbi_icl.jsonl import write_jsonl

    def chunks() -> Iterator[object]:
        nonlocal n_docs
        for doc in docs:
            if doc.id in seen:
                raise IndexBuildError(f"duplicate document id {doc.id!r}")
            seen.add(doc.id)
            n_docs += 1
            h.update((doc.model_dump_json() + "\n").encode("utf-8"))  # type: ignore[attr-defined]
            for ch in chunk_document(doc, words=config.chunk_words, overlap=config.chunk_overlap):
                chunks_text.append(ch.text)
                yield ch

    n_chunks = write_jsonl(folder / L.DOC_CHUNKS, chunks())  # type: ignore[arg-type]
    _embed_to(folder / L.VEC_DOCS, embedder, chunks_text, None)
    build_bm25s(chunks_text, folder / L.BM25_DOCS, config.bm25)
    return n_docs, n_chunks


def _finish_manifest(
    tmp: Path,
    *,
    embedder: Embedder,
    config: IndexConfig,
    counts: Counts,
    content_hash: str,
    examples_sha256: str,
    inputs: list[InputFile],
    started: float,
    hasher: FileHasher,
    built_at: str | None = None,
) -> IndexManifest:
    paths = [p for p in sorted(tmp.rglob("*")) if p.is_file() and p.name not in NOT_LISTED]
    files = {str(p.relative_to(tmp)): p.stat().st_size for p in paths}
    hashes = hasher.digests(list(files))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = IndexManifest(
        lbi_icl_version=__version__,
        embedder=EmbedderInfo(
            id=embedder.id,
            dim=embedder.dim,
            spec=embedder_spec(embedder),
            backend=embedder_backend(embedder),
        ),
        bm25=config.bm25,
        config=config,
        counts=counts,
        content_hash=content_hash,
        examples_sha256=examples_sha256,
        inputs=inputs,
        built_at=built_at or now,
        updated_at=now if built_at else None,
        build_seconds=round(time.perf_counter() - started, 3),
        files=files,
        sha256=hashes,
    )
    write_json(tmp / L.MANIFEST, manifest.model_dump(mode="json"))
    write_stamp(tmp, list(files))  # hashed just now: a load need not hash them again
    return manifest


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
        writer = _ExampleWriter(tmp, config)
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
    from lbi_icl.checks import read_checked_documents, read_checked_trajectories

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
    from lbi_icl.checks import read_checked_trajectories
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
            writer = _ExampleWriter(tmp, old.config)
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


def _continue_examples(index: ExampleIndex, src: Path, tmp: Path) -> _ExampleWriter:
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
    writer = _ExampleWriter(tmp, index.manifest.config, base=index)
    writer.hash = h
    return writer
