"""Fault cases of index damage and verification: same-size damage, hashes at load, overwrite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from faults_harness import FIXTURES, Result, Workspace, lbi, one_line_error


# ------------------------------------------------------------------ item 2: index damage
def _rewrite_npy(path: Path, change: Callable[[np.ndarray], None], keep_mtime: bool) -> None:
    st = path.stat()
    arr = np.load(path, allow_pickle=False)
    change(arr)
    with open(path, "wb") as fh:  # same shape and dtype: same size
        np.save(fh, arr, allow_pickle=False)
    assert path.stat().st_size == st.st_size
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _query_fails(index: Path, field: str, name: str) -> Result:
    rc, _, err = lbi(
        "index", "query", str(index), "--field", field, "--text", "pot stove", "--json"
    )
    return one_line_error(rc, err, name)


def damage_case(rel: str, change: Callable[[np.ndarray], None], field: str, keep: bool):
    def run(ws: Workspace) -> Result:
        ws.fresh()
        index = ws.clean_index()
        _rewrite_npy(index / rel, change, keep)
        return _query_fails(index, field, Path(rel).name)

    return run


def set_value(pos: int, value: float) -> Callable[[np.ndarray], None]:
    def change(a: np.ndarray) -> None:
        a.reshape(-1)[pos] = value

    return change


def flip_bit(pos: int) -> Callable[[np.ndarray], None]:
    def change(a: np.ndarray) -> None:
        a.reshape(-1)[pos] ^= 1

    return change


def case_verify(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    rc_ok, _, _ = lbi("index", "verify", str(index))
    blob = index / "steps_obs.bin"
    st = blob.stat()
    data = bytearray(blob.read_bytes())
    data[5] = ord("X") if data[5] != ord("X") else ord("Y")  # still UTF-8, same size
    blob.write_bytes(bytes(data))
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns))
    rc_bad, out, err = lbi("index", "verify", str(index))
    ok = rc_ok == 0 and rc_bad == 1 and "steps_obs.bin" in out and "Traceback" not in err
    return Result(f"clean: exit {rc_ok}; damaged blob: exit {rc_bad}, file named in table", ok)


def case_hash_at_load(ws: Workspace) -> Result:
    """A changed mtime makes the load hash the file: a text flip is caught without verify."""
    ws.fresh()
    index = ws.clean_index()
    blob = index / "steps_act.bin"
    data = bytearray(blob.read_bytes())
    data[0] = ord("Z") if data[0] != ord("Z") else ord("Q")
    blob.write_bytes(bytes(data))
    return _query_fails(index, "observation", "steps_act.bin")


# ------------------------------------------------------------------ item 8: overwrite
def case_index_overwrite(ws: Workspace) -> Result:
    ws.fresh()
    index = ws.clean_index()
    before = (index / "manifest.json").read_bytes()
    argv = [
        "index",
        "build",
        "--trajectories",
        str(FIXTURES / "heldout.jsonl"),
        "--out",
        str(index),
    ]
    rc, _, err = lbi(*argv, "--embedder", "hash:64")
    same = (index / "manifest.json").read_bytes() == before
    rc2, _, _ = lbi(*argv, "--embedder", "hash:64", "--overwrite")
    ok = rc == 1 and same and "--overwrite" in err and rc2 == 0
    return Result(f"without --overwrite exit {rc} (index kept: {same}); with it exit {rc2}", ok)
