"""Small, pickle-free on-disk building blocks an index directory is made of.

- `TextColumn`: many strings as one UTF-8 blob plus an int64 offsets array (`.npy`), so a
  million observations load in milliseconds (memory-mapped) and any row decodes in O(1).
- `save_npy` / `load_npy` (from npyio.py): numpy arrays, never with `allow_pickle`.
Every load failure raises `IndexFormatError` naming the file.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lbi_icl.index.errors import IndexFormatError
from lbi_icl.index.invariants import check_offsets
from lbi_icl.index.npyio import load_npy, save_npy

if TYPE_CHECKING:
    from lbi_icl.index.content import ContentChecks


class TextColumnWriter:
    """Appends strings to `NAME.bin` and records offsets; `close()` writes `NAME.off.npy`."""

    def __init__(self, folder: Path, name: str, *, resume: np.ndarray | None = None):
        """`resume`: the offsets of rows already in `NAME.bin` (copied there by the caller);
        new rows are appended after them."""
        self.blob = folder / f"{name}.bin"
        self.offsets_path = folder / f"{name}.off.npy"
        self._fh = open(self.blob, "ab" if resume is not None else "wb", buffering=1 << 20)  # noqa: SIM115
        self._offsets = array("q", [0])
        self._pos = 0
        if resume is not None:
            self._offsets = array("q", np.asarray(resume, dtype=np.int64).tobytes())
            self._pos = int(self._offsets[-1])
            if self._fh.tell() != self._pos:
                raise IndexFormatError(
                    f"{self.blob}: {self._fh.tell()} bytes, offsets say {self._pos}"
                )

    def add(self, text: str) -> None:
        data = text.encode("utf-8")
        self._fh.write(data)
        self._pos += len(data)
        self._offsets.append(self._pos)

    def add_all(self, texts: Iterable[str]) -> None:
        """Many rows with one write (what index builds use: a trajectory's steps at once)."""
        data = [t.encode("utf-8") for t in texts]
        if not data:
            return
        self._fh.write(b"".join(data))
        offsets = self._offsets
        pos = self._pos
        for d in data:
            pos += len(d)
            offsets.append(pos)
        self._pos = pos

    def close(self) -> int:
        self._fh.close()
        save_npy(self.offsets_path, np.frombuffer(self._offsets, dtype=np.int64))
        return len(self._offsets) - 1


class TextColumn:
    """Read side of `TextColumnWriter`: memory-mapped blob, O(1) row access."""

    def __init__(
        self,
        folder: Path,
        name: str,
        *,
        expected_rows: int | None = None,
        content: ContentChecks | None = None,
    ):
        """`content`: the index's checksums; rows are then checked as they are read."""
        self.blob_path = folder / f"{name}.bin"
        self._content = content
        self._rel = f"{name}.bin"
        self.offsets = load_npy(folder / f"{name}.off.npy", dtype=np.int64)
        if not self.blob_path.exists():
            raise IndexFormatError(f"{self.blob_path}: missing index file")
        size = self.blob_path.stat().st_size
        n = len(self.offsets) - 1
        if n < 0 or (expected_rows is not None and n != expected_rows):
            raise IndexFormatError(
                f"{folder / (name + '.off.npy')}: {n} rows, manifest says {expected_rows}"
            )
        if int(self.offsets[-1]) != size:
            raise IndexFormatError(
                f"{self.blob_path}: truncated ({size} bytes, offsets say {int(self.offsets[-1])})"
            )
        check_offsets(folder / f"{name}.off.npy", self.offsets, n, size)
        self._blob: np.ndarray | bytes = (
            np.memmap(self.blob_path, dtype=np.uint8, mode="r") if size else b""
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        if self._content is not None:
            self._content.span(self._rel, a, b)
        try:
            return bytes(self._blob[a:b]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise IndexFormatError(f"{self.blob_path}: row {i} is not UTF-8 (damaged file)") from e

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self)):
            yield self[i]

    def iter_texts(self, chunk_bytes: int = 1 << 24) -> Iterator[str]:
        """Every row in order, reading the blob sequentially in chunks of about
        `chunk_bytes` (a full scan without per-row memory-map slicing: index builds)."""
        offsets = np.asarray(self.offsets)
        n = len(self)
        if self._content is not None:
            self._content.whole(self._rel)
        with open(self.blob_path, "rb") as fh:
            row = 0
            while row < n:
                base = int(offsets[row])
                end = int(np.searchsorted(offsets, base + chunk_bytes, side="right")) - 1
                end = min(max(end, row + 1), n)
                data = fh.read(int(offsets[end]) - base)
                bounds = (offsets[row : end + 1] - base).tolist()
                for a, b in pairwise(bounds):
                    yield data[a:b].decode("utf-8")
                row = end
