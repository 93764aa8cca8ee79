"""Fault cases of bad input files: garbage, broken gzip, deep JSON, bad trajectories, manifests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

from faults_harness import FIXTURES, Result, Workspace, lbi, one_line_error, run_args


# ------------------------------------------------------------------ item 5: tracebacks
def validate_and_build(path: Path, index: Path) -> tuple[int, str, int, str]:
    """`lbi data validate` and `lbi index build` on one file: (rc, stderr) of each."""
    rc1, _, e1 = lbi("data", "validate", str(path))
    rc2, _, e2 = lbi(
        "index", "build", "--trajectories", str(path), "--out", str(index), "--embedder", "hash:32"
    )
    return rc1, e1, rc2, e2


def bad_input(make: Callable[[Path], Path]):
    def run(ws: Workspace) -> Result:
        d = ws.fresh()
        path = make(d)
        rc1, e1, rc2, e2 = validate_and_build(path, d / "i")
        a, b = one_line_error(rc1, e1, path.name), one_line_error(rc2, e2, path.name)
        return Result(f"validate {a.observed} | build {b.observed}", a.ok and b.ok)

    return run


def binary(d: Path) -> Path:
    p = d / "garbage.jsonl"
    p.write_bytes(bytes(range(256)) * 8)
    return p


def truncated_gz(d: Path) -> Path:
    p = d / "cut.jsonl.gz"
    data = gzip.compress((FIXTURES / "trajectories.jsonl").read_bytes())
    p.write_bytes(data[: len(data) // 2])
    return p


def plain_gz(d: Path) -> Path:
    p = d / "plain.jsonl.gz"
    p.write_bytes((FIXTURES / "trajectories.jsonl").read_bytes())
    return p


def directory(d: Path) -> Path:
    p = d / "adir.jsonl"
    p.mkdir()
    return p


def deep(d: Path) -> Path:
    p = d / "deep.jsonl"
    p.write_text("[" * 200_000 + "]" * 200_000 + "\n")
    return p


def case_truncated_manifest(ws: Workspace) -> Result:
    d = ws.fresh()
    out = d / "run"
    rc0, _, _e0 = lbi(*run_args(out, "--tasks", "1", "--retrieval", "none"))
    m = out / "manifest.json"
    m.write_text(m.read_text()[:50])
    rc, _, err = lbi("report", str(out))
    res = one_line_error(rc, err, "manifest.json")
    res.ok = res.ok and rc0 == 0
    return res


# ------------------------------------------------------------------ item 6: one validator
def _line(traj: dict) -> str:
    return json.dumps(traj) + "\n"


def _traj(**kw: object) -> dict:
    base = {
        "id": "t1",
        "env": "toy",
        "instruction": "do it",
        "steps": [{"observation": "o", "action": "a"}],
    }
    base.update(kw)
    return base


def validator_and_builder(make: Callable[[Path], Path], needle: str):
    def run(ws: Workspace) -> Result:
        d = ws.fresh()
        path = make(d)
        rc1, e1, rc2, e2 = validate_and_build(path, d / "i")
        ok = rc1 == 1 and rc2 == 1 and needle in e1 and needle in e2
        ok = ok and "Traceback" not in e1 + e2 and not (d / "i").exists()
        return Result(f"validate exit {rc1}, build exit {rc2}; both say {needle!r}: {ok}", ok)

    return run


def surrogate(d: Path) -> Path:
    p = d / "surrogate.jsonl"
    p.write_text(_line(_traj()).replace('"do it"', '"do \\ud800 it"'))
    return p


def empty(d: Path) -> Path:
    p = d / "empty.jsonl"
    p.write_text("")
    return p


def zero_steps(d: Path) -> Path:
    p = d / "zero.jsonl"
    p.write_text(_line(_traj(steps=[])))
    return p
