"""Vectorized invariants of an index's arrays, checked when they load (offsets monotone,
ids in range, finite vectors, a well-formed CSC posting matrix): a damaged file is an
`IndexFormatError` naming it, never a wrong hit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lbi_icl.index import layout as L
from lbi_icl.index.errors import IndexFormatError


def check_offsets(path: Path, offsets: np.ndarray, rows: int, end: int | None) -> None:
    """`offsets` (rows + 1) start at 0, never decrease and end at `end` (when given)."""
    if len(offsets) != rows + 1:
        raise IndexFormatError(f"{path}: {len(offsets) - 1} rows, expected {rows}")
    if int(offsets[0]) != 0 or (end is not None and int(offsets[-1]) != end):
        raise IndexFormatError(
            f"{path}: offsets must run from 0 to {end}, found {int(offsets[0])}..{int(offsets[-1])}"
        )
    if rows and not bool((offsets[1:] >= offsets[:-1]).all()):
        raise IndexFormatError(f"{path}: offsets are not monotone (damaged file)")


def check_range(path: Path, values: np.ndarray, hi: int | np.ndarray, what: str) -> None:
    """Every value in [0, hi) (per column when `hi` is an array). A scalar bound takes one
    pass: viewed as unsigned, a negative value is huge, so `max < hi` checks both ends."""
    if values.size == 0:
        return
    if np.isscalar(hi) and values.dtype.kind == "i":
        unsigned = values.reshape(-1).view(np.dtype(f"u{values.dtype.itemsize}"))
        if int(unsigned.max()) >= int(hi):  # type: ignore[arg-type]
            raise IndexFormatError(f"{path}: {what} out of range (damaged file)")
        return
    lo_v = values.min(axis=0)
    hi_v = values.max(axis=0)
    if bool(np.any(lo_v < 0)) or bool(np.any(hi_v >= hi)):
        raise IndexFormatError(f"{path}: {what} out of range (damaged file)")


def check_step_table(
    folder: Path, example_steps: np.ndarray, step_example: np.ndarray, step_pos: np.ndarray, n: int
) -> None:
    """Each step row belongs to the example whose [start, end) holds it, at its position."""
    s = len(step_example)
    check_offsets(folder / L.EXAMPLE_STEPS, example_steps, n, s)
    if s == 0:
        return
    check_range(folder / L.STEP_EXAMPLE, step_example, n, "example ids")
    if not bool((step_example[1:] >= step_example[:-1]).all()):
        raise IndexFormatError(f"{folder / L.STEP_EXAMPLE}: example ids not in order (damaged)")
    start = example_steps[step_example]
    if not np.array_equal(step_pos, np.arange(s, dtype=np.int64) - start):
        raise IndexFormatError(
            f"{folder / L.STEP_POS} / {folder / L.STEP_EXAMPLE}: step rows disagree with "
            f"{L.EXAMPLE_STEPS} (damaged file)"
        )


def check_finite(path: Path, arr: np.ndarray) -> None:
    """No NaN / inf anywhere: one pass summing in the array's own float type (NaN and inf
    propagate; unit vectors and BM25 scores are far from overflowing float32). On failure,
    the first bad row is named."""
    if arr.size == 0 or np.isfinite(np.add.reduce(arr.reshape(-1))):
        return
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=tuple(range(1, arr.ndim))))
    row = int(bad[0]) if len(bad) else -1
    raise IndexFormatError(f"{path}: non-finite value (NaN or inf) in row {row} (damaged file)")


def check_csc(
    folder: Path, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n: int, vocab: int
) -> None:
    """The saved score matrix is well formed: column pointers run 0..nnz in order and row
    ids are in range (vectorized; every load)."""
    nnz = len(indices)
    if len(data) != nnz:
        raise IndexFormatError(f"{folder / 'data.csc.index.npy'}: {len(data)} scores, {nnz} rows")
    if len(indptr) != vocab + 1:
        raise IndexFormatError(
            f"{folder / 'indptr.csc.index.npy'}: {len(indptr) - 1} columns, vocabulary {vocab}"
        )
    check_offsets(folder / "indptr.csc.index.npy", indptr, vocab, nnz)
    check_range(folder / "indices.csc.index.npy", indices, n, "row ids")
    # scores are not scanned at load (a full pass over the largest array, ~3 ms per 1M
    # postings): a changed score file is caught by its hash (mtime stamp / `index verify`)
