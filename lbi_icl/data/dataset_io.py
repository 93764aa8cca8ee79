"""Trajectories as Parquet files and Hugging Face `datasets` folders (`save_to_disk`), for
people who keep their data in dataframes or on the Hub: written by `lbi export`, read back by
`lbi data import` through the same validation as every JSON Lines input (`checks.py`).

One table layout for both: a row per trajectory with the columns people filter on (`id`,
`env`, `instruction`, `outcome`, `split`, `task_id`, `source_kind`, `n_steps`) and the whole
record, lossless, as JSON in `trajectory` (steps hold free-form `info` dicts, which no fixed
Arrow schema fits). A table from elsewhere without `trajectory` is read from its columns
(`steps` as a list of step records). Needs the `[hf]` extra (pyarrow, datasets).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from lbi_icl.data import Trajectory
from lbi_icl.data.jsonl import DataError, DataProblem, _parse, write_jsonl

Format = Literal["jsonl", "parquet", "hf"]
COLUMNS = ("id", "env", "instruction", "outcome", "split", "task_id", "source_kind", "n_steps")
INSTALL = 'pip install "lbi_icl[hf]"  (pyarrow and datasets)'


def output_format(path: Path, explicit: str | None) -> Format:
    """The format to write `path` in: `explicit`, else its extension (`.jsonl`, `.jsonl.gz`,
    `.parquet`; a folder name without an extension is a datasets folder with `hf` only)."""
    if explicit is not None:
        if explicit not in ("jsonl", "parquet", "hf"):
            raise ValueError(f"unknown format {explicit!r}: jsonl, parquet or hf")
        return explicit  # type: ignore[return-value]
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise ValueError(
        f"{path}: cannot tell the format from the name (.jsonl, .jsonl.gz or .parquet; a "
        "Hugging Face datasets folder needs --format hf)"
    )


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is not installed: {INSTALL}") from e


def _columns(trajs: Iterable[Trajectory]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {c: [] for c in (*COLUMNS, "trajectory")}
    for t in trajs:
        row = {
            "id": t.id,
            "env": t.env,
            "instruction": t.instruction,
            "outcome": t.outcome,
            "split": t.split,
            "task_id": t.task_id,
            "source_kind": t.source_kind,
            "n_steps": len(t.steps),
            "trajectory": t.model_dump_json(),
        }
        for c, v in row.items():
            cols[c].append(v)
    return cols


def write_trajectories(path: str | Path, trajs: Iterable[Trajectory], fmt: Format) -> int:
    """Write `trajs` atomically in `fmt`; returns how many."""
    out = Path(path)
    if fmt == "jsonl":
        return write_jsonl(out, trajs)
    cols = _columns(trajs)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pa = _require("pyarrow")
        pq = _require("pyarrow.parquet")
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        os.close(fd)
        try:
            pq.write_table(pa.table(cols), tmp)
            os.replace(tmp, out)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return len(cols["id"])
    datasets = _require("datasets")
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        datasets.Dataset.from_dict(cols).save_to_disk(str(tmp_dir / "ds"))
        if out.exists():  # replaced only once the new one is complete
            os.replace(out, tmp_dir / "old")
        os.replace(tmp_dir / "ds", out)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return len(cols["id"])


def _row_record(label: str, n: int, row: dict[str, Any]) -> dict[str, Any] | DataProblem:
    """A table row as the trajectory record it holds (the `trajectory` JSON, else the row)."""
    text = row.get("trajectory")
    if isinstance(text, str):
        return _parse(label, n, text)
    derived = ("n_steps", "source_kind", "task_id")  # our layout's convenience columns
    return {k: v for k, v in row.items() if k not in derived}


def iter_table_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | DataProblem]]:
    """(row number from 1, record or problem) of a Parquet file or a datasets folder (every
    split of a DatasetDict, in order); the label in problems is the path."""
    p = Path(path)
    label = str(p)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_file():
        pq = _require("pyarrow.parquet")
        try:
            table = pq.read_table(p)
        except Exception as e:  # pyarrow raises its own ArrowInvalid / OSError kinds
            raise DataError([DataProblem(label, 0, None, f"not a Parquet file ({e})")]) from e
        rows: Iterable[dict[str, Any]] = table.to_pylist()
    else:
        datasets = _require("datasets")
        try:
            loaded = datasets.load_from_disk(str(p))
        except Exception as e:
            raise DataError(
                [DataProblem(label, 0, None, f"not a Hugging Face datasets folder ({e})")]
            ) from e
        parts = (
            [loaded[s] for s in loaded] if isinstance(loaded, datasets.DatasetDict) else [loaded]
        )
        rows = (dict(r) for part in parts for r in part)
    for n, row in enumerate(rows, 1):
        yield n, _row_record(label, n, row)


def input_kind(path: Path) -> Literal["parquet", "hf"]:
    if path.is_dir():
        return "hf"
    if path.name.lower().endswith(".parquet"):
        return "parquet"
    raise ValueError(f"{path}: expected a .parquet file or a Hugging Face datasets folder")


__all__ = [
    "COLUMNS",
    "Format",
    "input_kind",
    "iter_table_records",
    "output_format",
    "write_trajectories",
]
