"""Pickle-free array and JSON files of an index: `save_npy` / `load_npy` (numpy, never with
`allow_pickle`; loads memory-mapped) and `read_json` / `write_json`; every load failure
raises `IndexFormatError` naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from lbi_icl.index.errors import IndexFormatError


def save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)


def load_npy(path: Path, *, mmap: bool = True, dtype: Any = None) -> np.ndarray:
    if not path.exists():
        raise IndexFormatError(f"{path}: missing index file")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise IndexFormatError(f"{path}: unreadable or truncated numpy file ({e})") from e
    if dtype is not None and arr.dtype != np.dtype(dtype):
        raise IndexFormatError(f"{path}: expected dtype {np.dtype(dtype)}, found {arr.dtype}")
    # A plain ndarray view of the mapping: same memory, without np.memmap's per-access cost.
    return arr.view(np.ndarray) if isinstance(arr, np.memmap) else arr


def read_json(path: Path) -> Any:
    if not path.exists():
        raise IndexFormatError(f"{path}: missing index file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise IndexFormatError(f"{path}: not valid JSON, probably truncated ({e})") from e


def write_json(path: Path, value: Any) -> None:
    from lbi_icl.data.jsonl import atomic_write_text

    atomic_write_text(path, json.dumps(value, ensure_ascii=False))
