"""Writing the parts of a new index folder: the examples (`examples.jsonl`, per-example
columns, the step table, lineage), the embedding files, the documentation chunks with their
vectors and BM25, and the manifest with every file's size and sha256. `build.py` decides
what is written where (build / add, temp folder, swap)."""

from __future__ import annotations

import hashlib
import time
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lbi_icl import __version__
from lbi_icl.data import Document, Trajectory
from lbi_icl.embed import Embedder, embedder_backend, embedder_spec
from lbi_icl.index import layout as L
from lbi_icl.index.bm25 import build_bm25s
from lbi_icl.index.content import write_checksums
from lbi_icl.index.docs import chunk_document
from lbi_icl.index.errors import IndexBuildError, IndexFormatError
from lbi_icl.index.manifest import Counts, EmbedderInfo, IndexConfig, IndexManifest, InputFile
from lbi_icl.index.npyio import save_npy, write_json
from lbi_icl.index.store import TextColumnWriter
from lbi_icl.index.verify import NOT_LISTED, FileHasher, write_stamp

if TYPE_CHECKING:
    from lbi_icl.index.load import ExampleIndex


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


class ExampleWriter:
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
    from lbi_icl.data.jsonl import write_jsonl

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
    write_checksums(tmp, hasher.sums)  # content checks every load can afford (content.py)
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
