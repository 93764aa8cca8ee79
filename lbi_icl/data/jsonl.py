"""Streaming JSON Lines I/O (`.jsonl`, `.jsonl.gz`) with precise errors and atomic writes.

Reading is lazy (one line in memory at a time), so a million-line file never has to fit in
memory as Python objects. Every bad line raises `DataError` naming file, line, field and
what was expected. Whole-file writes go to a temp file that is renamed into place, so a
crash never leaves a half-written file; appends (`JsonlAppender`) flush each record and
readers of resumable outputs can skip a torn last line.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from lbi_icl.data import Document, Trajectory

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class DataProblem:
    """One thing wrong with one line of one file."""

    path: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return (
            f"{where}: field '{self.field}': {self.message}"
            if self.field
            else (f"{where}: {self.message}")
        )


class DataError(ValueError):
    """A file does not hold what it should; `problems` lists each bad line."""

    def __init__(self, problems: list[DataProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _open_text(path: Path, mode: str) -> IO[str]:
    """Text in UTF-8; when reading, lines end at "\\n" only (no universal newlines)."""
    newline = "\n" if "r" in mode else None
    if path.suffix == ".gz":
        binary = gzip.open(path, mode.replace("t", "") + "b")  # noqa: SIM115 - the wrapper owns it
        return io.TextIOWrapper(binary, encoding="utf-8", newline=newline)
    return open(path, mode, encoding="utf-8", newline=newline)


def _problems_from_validation(path: str, line: int, err: ValidationError) -> list[DataProblem]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or None
        expected = e["msg"]
        got = e.get("input")
        if e["type"] != "missing" and not isinstance(got, dict | list):
            expected = f"{expected} (got {got!r})"
        out.append(DataProblem(path, line, loc, expected))
    return out


def iter_json_lines(
    path: str | Path, *, allow_torn_tail: bool = False, objects: bool = False
) -> Iterator[tuple[int, Any | DataProblem]]:
    """Yield (line number, parsed JSON value or the problem with that line): the project's
    one JSON Lines reader. A line ends at "\\n" only: U+2028, U+2029, \\x1c-\\x1e or \\x85
    inside a text are characters, not line breaks (what `str.splitlines` would make them).

    Blank lines are skipped. A last line without its newline that does not parse is a
    write interrupted by a crash: skipped with `allow_torn_tail`, else reported as such.
    `objects`: every value must be a JSON object.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise DataError([DataProblem(str(p), 0, None, "is a directory, expected a JSONL file")])
    lineno = 0
    try:
        with _open_text(p, "rt") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                parsed = _parse(str(p), lineno, raw, objects=objects)
                if isinstance(parsed, DataProblem) and not raw.endswith("\n"):
                    if allow_torn_tail:
                        continue  # only the last line can lack its newline
                    why = f"{parsed.message}: a torn last line (an interrupted write?)"
                    parsed = DataProblem(parsed.path, lineno, parsed.field, why)
                yield lineno, parsed
    except UnicodeDecodeError:
        raise DataError(
            [DataProblem(str(p), lineno + 1, None, "not UTF-8 text (a binary file?)")]
        ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        what = "truncated gzip data" if isinstance(e, EOFError) else f"not valid gzip ({e})"
        raise DataError([DataProblem(str(p), lineno + 1, None, what)]) from None


def iter_records(
    path: str | Path, *, allow_torn_tail: bool = False
) -> Iterator[tuple[int, dict[str, Any] | DataProblem]]:
    """`iter_json_lines` where every line must be a JSON object (records)."""
    return iter_json_lines(path, allow_torn_tail=allow_torn_tail, objects=True)


def lone_surrogate_at(value: Any, loc: str = "") -> str | None:
    """The dotted location of the first string holding a lone surrogate, else None."""
    stack: list[tuple[Any, str]] = [(value, loc)]
    while stack:
        v, where = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return where or "(value)"
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                if isinstance(k, str) and lone_surrogate_at(k) is not None:
                    return f"{where}.{k!r}" if where else repr(k)
                stack.append((x, f"{where}.{k}" if where else str(k)))
        elif isinstance(v, list):
            for i in range(len(v) - 1, -1, -1):
                stack.append((v[i], f"{where}.{i}" if where else str(i)))
    return None


# The text is decoded strictly as UTF-8, so a lone surrogate can only come from a `\\uD8xx`–
# `\\uDFxx` escape: only lines holding one need the walk over every string.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _parse(path: str, lineno: int, raw: str, *, objects: bool = True) -> Any | DataProblem:
    try:
        value = json.loads(raw.strip())
    except json.JSONDecodeError as e:
        return DataProblem(path, lineno, None, f"invalid JSON ({e.msg} at column {e.colno})")
    except RecursionError:
        return DataProblem(path, lineno, None, "JSON nested too deeply")
    if objects and not isinstance(value, dict):
        got = type(value).__name__
        return DataProblem(path, lineno, None, f"expected a JSON object, got {got}")
    if _SURROGATE_ESCAPE.search(raw):
        loc = lone_surrogate_at(value)
        if loc is not None:
            return DataProblem(
                path, lineno, loc, "lone surrogate (e.g. \\ud800): not valid Unicode text"
            )
    return value


def validate_record(
    label: str, line: int, rec: dict[str, Any], model: type[M]
) -> M | list[DataProblem]:
    """One record against `model`'s schema: the instance, or one problem per bad field
    (`label` names the source). `read_jsonl` and `data/checks.py` (which adds the
    usability checks) both go through it, so their schema problems read the same."""
    try:
        return model.model_validate(rec)
    except ValidationError as e:
        return _problems_from_validation(label, line, e)


def validate_records(
    path: str | Path, model: type[M], *, allow_torn_tail: bool = False
) -> Iterator[tuple[int, M | list[DataProblem]]]:
    """Yield (line, model instance or its problems) for every line: reports all bad lines."""
    for lineno, rec in iter_records(path, allow_torn_tail=allow_torn_tail):
        if isinstance(rec, DataProblem):
            yield lineno, [rec]
            continue
        yield lineno, validate_record(str(path), lineno, rec, model)


def read_jsonl(path: str | Path, model: type[M], *, allow_torn_tail: bool = False) -> Iterator[M]:
    """Stream validated models from a file; the first bad line raises `DataError`."""
    for _, item in validate_records(path, model, allow_torn_tail=allow_torn_tail):
        if isinstance(item, list):
            raise DataError(item)
        yield item


def read_trajectories(*paths: str | Path) -> Iterator[Trajectory]:
    for p in paths:
        yield from read_jsonl(p, Trajectory)


def read_documents(*paths: str | Path) -> Iterator[Document]:
    for p in paths:
        yield from read_jsonl(p, Document)


def _dump(item: BaseModel | dict[str, Any]) -> str:
    if isinstance(item, BaseModel):
        return item.model_dump_json()
    return json.dumps(item, ensure_ascii=False, sort_keys=False)


def write_jsonl(path: str | Path, items: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write all items atomically (temp file in the same folder, then rename). Returns count."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    count = 0
    try:
        raw: IO[bytes] = open(tmp_path, "wb")  # noqa: SIM115 - closed below
        with raw:
            if p.suffix == ".gz":
                # mtime=0 keeps the bytes reproducible for the same content.
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
                    for item in items:
                        gz.write((_dump(item) + "\n").encode("utf-8"))
                        count += 1
            else:
                for item in items:
                    raw.write((_dump(item) + "\n").encode("utf-8"))
                    count += 1
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp_path, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    return count


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace a small text file (manifest, config) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class JsonlAppender:
    """Append-only JSONL writer for resumable outputs: each record is flushed whole.

    On open it truncates a torn last line left by a crash, so the file stays valid and a
    resumed writer never glues a new record onto half an old one. Plain `.jsonl` only.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False):
        self.path = Path(path)
        if self.path.suffix == ".gz":
            raise ValueError(f"{self.path}: append mode needs plain .jsonl, not .gz")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._repair_tail()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _repair_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 1))
            if fh.read(1) == b"\n":
                return
            # Walk back to the last newline and cut the torn record.
            pos = size
            chunk = 65536
            while pos > 0:
                start = max(0, pos - chunk)
                fh.seek(start)
                buf = fh.read(pos - start)
                idx = buf.rfind(b"\n")
                if idx >= 0:
                    fh.truncate(start + idx + 1)
                    return
                pos = start
            fh.truncate(0)

    def write(self, item: BaseModel | dict[str, Any]) -> None:
        self._fh.write(_dump(item) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
