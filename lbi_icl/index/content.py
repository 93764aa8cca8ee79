"""Content checksums of an index's files: same-size damage (bit rot: one flipped bit, size
and mtime kept) is caught before it can change an answer, at a cost every load can pay.

Written at build / add, beside the manifest (not listed in it, like the verify stamp):
- `checksums.lbi.json`: per file its `sum32` (the little-endian 32-bit words of its bytes
  summed modulo 2**32: one numpy pass at ~15 GB/s, and any single flipped bit changes it)
  and where its block crcs start;
- `checksums.lbi.npy`: a crc32 per 64 KiB block of every file, concatenated.

Files a load reads whole (ids, offsets, step tables, codes, vectors, BM25 vocabularies and
column pointers, the HNSW graph) are checked whole when they are opened (`whole`). Files
read piecewise (examples.jsonl, the step texts, BM25 postings and scores) are checked block
by block the first time a piece of a block is read (`span`), so a query pays ~20 µs per new
64 KiB block and nothing after. The full sha256 of every file stays `lbi index verify`'s.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from lbi_icl.index.errors import IndexFormatError

BLOCK = 1 << 16
CHECKSUMS_JSON = "checksums.lbi.json"
CHECKSUMS_NPY = "checksums.lbi.npy"
CONTENT_FILES = (CHECKSUMS_JSON, CHECKSUMS_NPY)


class FileSums(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int
    sum32: int
    first_block: int = 0  # index of its first crc in checksums.lbi.npy
    sha256: str | None = None  # not stored: the manifest holds it


def _sum32(data: np.ndarray) -> int:
    """Little-endian uint32 words of `data` (uint8, zero-padded) summed mod 2**32."""
    whole = len(data) // 4 * 4
    total = int(np.add.reduce(data[:whole].view("<u4"), dtype=np.uint32)) if whole else 0
    if whole < len(data):  # the last 1-3 bytes, zero-padded to a word
        tail = np.zeros(4, dtype=np.uint8)
        tail[: len(data) - whole] = data[whole:]
        total += int(tail.view("<u4")[0])
    return total % 2**32


def digest_file(path: Path, *, sha256: bool = True) -> tuple[FileSums, np.ndarray]:
    """One read of `path`: its sha256 (optional), sum32 and block crcs."""
    h = hashlib.sha256() if sha256 else None
    total = 0
    crcs: list[int] = []
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(BLOCK * 16):
            size += len(chunk)
            if h is not None:
                h.update(chunk)
            view = memoryview(chunk)
            for i in range(0, len(chunk), BLOCK):
                crcs.append(zlib.crc32(view[i : i + BLOCK]))
            total = (total + _sum32(np.frombuffer(chunk, dtype=np.uint8))) % 2**32
    sums = FileSums(size=size, sum32=total, sha256=h.hexdigest() if h else None)
    return sums, np.asarray(crcs, dtype=np.uint32)


def write_checksums(folder: Path, sums: dict[str, tuple[FileSums, np.ndarray]]) -> None:
    from lbi_icl.index.npyio import save_npy, write_json

    files: dict[str, dict[str, int]] = {}
    blocks: list[np.ndarray] = []
    start = 0
    for rel in sorted(sums):
        s, crcs = sums[rel]
        files[rel] = {"size": s.size, "sum32": s.sum32, "first_block": start}
        blocks.append(crcs)
        start += len(crcs)
    all_crcs = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.uint32)
    save_npy(folder / CHECKSUMS_NPY, all_crcs.astype(np.uint32))
    write_json(folder / CHECKSUMS_JSON, {"block": BLOCK, "files": files})


class ContentChecks:
    """The checksums of one loaded index; thread-safe (verified blocks are remembered)."""

    def __init__(self, folder: Path, files: dict[str, FileSums], crcs: np.ndarray):
        self.folder = folder
        self.files = files
        self.crcs = crcs
        self._seen: dict[str, np.ndarray] = {}  # rel -> bool per block (verified)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path) -> ContentChecks | None:
        """None for an index built before content checksums existed."""
        from lbi_icl.index.npyio import load_npy, read_json

        if not (folder / CHECKSUMS_JSON).exists():
            return None
        raw = read_json(folder / CHECKSUMS_JSON)
        try:
            if raw["block"] != BLOCK:
                raise ValueError(f"block size {raw['block']}, this version reads {BLOCK}")
            files = {rel: FileSums.model_validate(v) for rel, v in raw["files"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise IndexFormatError(f"{folder / CHECKSUMS_JSON}: unreadable ({e})") from e
        crcs = load_npy(folder / CHECKSUMS_NPY, mmap=False, dtype=np.uint32)
        return cls(folder, files, crcs)

    def _damaged(self, rel: str, where: str) -> IndexFormatError:
        return IndexFormatError(
            f"{self.folder / rel}: {where} changed since the index was built (damaged file, "
            f"same size); `lbi index verify {self.folder}` lists every damaged file; rebuild "
            "the index"
        )

    def whole(self, rel: str) -> None:
        """Check a whole file's sum32 (files opened whole; one fast pass)."""
        want = self.files.get(rel)
        if want is None:
            return
        path = self.folder / rel
        data = np.memmap(path, dtype=np.uint8, mode="r") if want.size else np.zeros(0, np.uint8)
        if len(data) != want.size or _sum32(np.asarray(data)) != want.sum32:
            raise self._damaged(rel, "its content")

    def span(self, rel: str, start: int, end: int) -> None:
        """Check the blocks of bytes [start, end) of `rel` not checked yet (crc32 each)."""
        want = self.files.get(rel)
        if want is None or end <= start:
            return
        first, last = start // BLOCK, (end - 1) // BLOCK
        seen = self._seen.get(rel)
        if seen is None:
            with self._lock:
                seen = self._seen.setdefault(rel, np.zeros(-(-want.size // BLOCK), dtype=bool))
        if seen[first : last + 1].all():
            return
        with open(self.folder / rel, "rb") as fh:
            for b in range(first, last + 1):
                if seen[b]:
                    continue
                fh.seek(b * BLOCK)
                if zlib.crc32(fh.read(BLOCK)) != int(self.crcs[want.first_block + b]):
                    raise self._damaged(rel, f"bytes {b * BLOCK}-{(b + 1) * BLOCK - 1}")
                seen[b] = True

    def array_span(self, rel: str, header: int, itemsize: int, a: int, b: int) -> None:
        """`span` for items [a, b) of an .npy file whose data start at byte `header`."""
        self.span(rel, header + a * itemsize, header + b * itemsize)


class PostingChecks:
    """`span` checks for items [a, b) of a BM25 folder's posting arrays (CSC scores and row
    ids): what one query term reads."""

    def __init__(self, content: ContentChecks, folder: Path, files: dict[str, int]):
        """`files`: file name in `folder` -> item size in bytes."""
        self._content = content
        self._files = [
            (f"{folder.name}/{name}", npy_header_size(folder / name), itemsize)
            for name, itemsize in files.items()
            if f"{folder.name}/{name}" in content.files
        ]

    def check(self, a: int, b: int) -> None:
        for rel, header, itemsize in self._files:
            self._content.array_span(rel, header, itemsize, a, b)


def npy_header_size(path: Path) -> int:
    """Where an .npy file's data start (the header's length)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(fh)
        else:
            np.lib.format.read_array_header_2_0(fh)
        return fh.tell()


__all__ = [
    "BLOCK",
    "CONTENT_FILES",
    "ContentChecks",
    "FileSums",
    "PostingChecks",
    "digest_file",
    "npy_header_size",
    "write_checksums",
]
