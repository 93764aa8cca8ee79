"""Index integrity: per-file sha256 (recorded at build/add), a verify stamp, and the cheap
structural invariants every load checks.

- `manifest.json` records each file's size and sha256 (`files`, `sha256`).
- `verified.json` (not listed in the manifest) records each file's (size, mtime_ns) when
  its hash was last checked: at build time, by `lbi index verify`, or by a load that had to
  hash. A load hashes only the files whose size or mtime changed since (normally none), so
  an edited file is caught at load without reading a large index every time.
- `check_*` functions are vectorized numpy checks (offsets start at 0, are monotone and end
  at the blob size; ids in range; codes in range; vectors finite). A damaged index is an
  `IndexFormatError` naming the file, never a wrong answer or an `IndexError`.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from lbi_icl.index import layout as L
from lbi_icl.index.content import CONTENT_FILES, FileSums, digest_file
from lbi_icl.index.errors import IndexFormatError
from lbi_icl.index.manifest import IndexManifest

STAMP = "verified.json"
NOT_LISTED = (L.MANIFEST, STAMP, *CONTENT_FILES)
Digest = tuple[FileSums, np.ndarray]  # a file's checksums and its block crcs


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FileHasher:
    """sha256 and content checksums (`content.py`) of a build's files on a background thread
    while the build goes on.

    Files finished early (the example and step blobs, ~90 % of the bytes) are hashed while
    embeddings and BM25 are computed; hashlib and zlib release the GIL on large buffers, so
    on a multi-core machine the hashes cost the build little wall time. A sha256 the build
    already computed over the same bytes (`known`) is reused (its checksums are still
    computed). A file whose size or mtime changed after it was submitted is hashed again, so
    a late rewrite cannot go unrecorded.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="lbi-hash")
        self._pending: dict[str, tuple[list[int], cf.Future[Digest]]] = {}
        self._known: dict[str, tuple[list[int], str]] = {}
        self.sums: dict[str, Digest] = {}

    def known(self, rel: str, digest: str) -> None:
        self._known[rel] = (_stat_key(self.folder / rel), digest)

    def _job(self, rel: str) -> Digest:
        return digest_file(self.folder / rel, sha256=rel not in self._known)

    def submit_present(self) -> None:
        """Start hashing every file now in the folder (call when they are final)."""
        for p in sorted(self.folder.rglob("*")):
            rel = str(p.relative_to(self.folder))
            if p.is_file() and rel not in self._pending:
                self._pending[rel] = (_stat_key(p), self._pool.submit(self._job, rel))

    def digests(self, rels: list[str]) -> dict[str, str]:
        """The sha256 of each of `rels`, waiting for or computing what is missing; their
        content checksums are left in `self.sums`."""
        out: dict[str, str] = {}
        try:
            for rel in rels:
                key = _stat_key(self.folder / rel)
                pending = self._pending.get(rel)
                got = pending[1].result() if pending and pending[0] == key else self._job(rel)
                self.sums[rel] = got
                if rel in self._known and self._known[rel][0] == key:
                    out[rel] = self._known[rel][1]
                else:
                    out[rel] = got[0].sha256 or file_sha256(self.folder / rel)
        finally:
            self.close()
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def write_stamp(folder: Path, rels: list[str]) -> None:
    """Record (size, mtime_ns) of `rels` as verified; best effort (read-only indexes)."""
    stamp = {rel: _stat_key(folder / rel) for rel in rels}
    tmp = folder / f".{STAMP}.tmp"
    try:
        tmp.write_text(json.dumps(stamp), encoding="utf-8")
        os.replace(tmp, folder / STAMP)
    except OSError:
        tmp.unlink(missing_ok=True)


def _read_stamp(folder: Path) -> dict[str, list[int]]:
    try:
        data = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class FileCheck(BaseModel):
    file: str
    size: int | None
    expected_sha256: str | None
    actual_sha256: str | None
    ok: bool
    problem: str | None = None


def verify_files(
    folder: Path, manifest: IndexManifest, *, only_changed: bool = False
) -> list[FileCheck]:
    """Hash the manifest's files (all, or only those changed since the stamp) and compare."""
    stamp = _read_stamp(folder) if only_changed else {}
    rows: list[FileCheck] = []
    for rel, size in manifest.files.items():
        p = folder / rel
        want = manifest.sha256.get(rel)
        if not p.is_file():
            rows.append(
                FileCheck(
                    file=rel,
                    size=None,
                    expected_sha256=want,
                    actual_sha256=None,
                    ok=False,
                    problem="missing",
                )
            )
            continue
        key = _stat_key(p)
        if only_changed and stamp.get(rel) == key:
            continue
        if key[0] != size:
            rows.append(
                FileCheck(
                    file=rel,
                    size=key[0],
                    expected_sha256=want,
                    actual_sha256=None,
                    ok=False,
                    problem=f"{key[0]} bytes, manifest recorded {size}",
                )
            )
            continue
        got = file_sha256(p)
        ok = want is None or got == want
        problem = None if ok else "content changed since the index was built (sha256 differs)"
        rows.append(
            FileCheck(
                file=rel,
                size=key[0],
                expected_sha256=want,
                actual_sha256=got,
                ok=ok,
                problem=problem,
            )
        )
    return rows


def check_changed_files(folder: Path, manifest: IndexManifest) -> None:
    """At load: hash the files changed since the last verify; raise on a mismatch."""
    if not manifest.sha256:
        return  # built before hashes were recorded: structural checks only
    rows = verify_files(folder, manifest, only_changed=True)
    bad = [r for r in rows if not r.ok]
    if bad:
        r = bad[0]
        raise IndexFormatError(
            f"{folder / r.file}: {r.problem}; the index is damaged (`lbi index verify "
            f"{folder}` lists every file); rebuild it"
        )
    if rows:
        write_stamp(folder, list(manifest.files))


# -- structural invariants (vectorized; run at every load) ----------------------------
