"""The one validation path for data files: what `lbi data validate` reports is exactly
what `lbi index build` refuses.

On top of the schema (`lbi_icl.data`), a record must be usable downstream (a lone
surrogate such as `\\ud800`, which parses as JSON but cannot be written back as UTF-8, is
refused one level lower, by `lbi_icl.data.jsonl`, for every reader):
- a trajectory has at least one step (a 0-step example indexes as nothing);
- ids are unique within a file, and a file holds at least one record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from lbi_icl.data import Document, Trajectory
from lbi_icl.data.jsonl import DataError, DataProblem, iter_records, validate_record

M = TypeVar("M", bound=BaseModel)


def usability_problems(
    path: str, line: int, raw: dict[str, Any], item: BaseModel
) -> list[DataProblem]:
    out: list[DataProblem] = []
    if isinstance(item, Trajectory) and not item.steps:
        out.append(DataProblem(path, line, "steps", "a trajectory needs at least one step"))
    return out


def check_records(path: str | Path, model: type[M]) -> Iterator[tuple[int, M | list[DataProblem]]]:
    """Every line of `path` as (line, model or its problems): schema, usability, duplicate
    ids; then an empty file is one problem."""
    return check_rows(str(path), iter_records(path), model)


def check_rows(
    label: str, rows: Iterable[tuple[int, dict[str, Any] | DataProblem]], model: type[M]
) -> Iterator[tuple[int, M | list[DataProblem]]]:
    """`check_records` for records from any source (a JSONL file's lines, a table's rows):
    `label` names the source in problems."""
    seen: dict[str, int] = {}
    count = 0
    for line, rec in rows:
        count += 1
        if isinstance(rec, DataProblem):
            yield line, [rec]
            continue
        item = validate_record(label, line, rec, model)
        if isinstance(item, list):
            yield line, item
            continue
        problems = usability_problems(label, line, rec, item)
        item_id = getattr(item, "id", None)
        if isinstance(item_id, str):
            first = seen.setdefault(item_id, line)
            if first != line:
                problems.append(
                    DataProblem(
                        label, line, "id", f"duplicate id {item_id!r} (first on line {first})"
                    )
                )
        yield line, (problems or item)
    if count == 0:
        yield 0, [DataProblem(label, 0, None, "empty file: no records")]


def read_checked(*paths: str | Path, model: type[M]) -> Iterator[M]:
    """Stream the records of `paths`; the first problem raises `DataError`."""
    for path in paths:
        for _, item in check_records(path, model):
            if isinstance(item, list):
                raise DataError(item)
            yield item


def read_checked_trajectories(*paths: str | Path) -> Iterator[Trajectory]:
    return read_checked(*paths, model=Trajectory)


def read_checked_documents(*paths: str | Path) -> Iterator[Document]:
    return read_checked(*paths, model=Document)
