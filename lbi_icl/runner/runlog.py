"""The run log: what a run directory holds, its format version, and the one reader that
every consumer of a run goes through (`lbi report`, `lbi report A B`, `lbi view`,
`lbi export`, `lbi rescore`, resume and the budget).

    runs/NAME/
      manifest.json              config, versions, index hash, sessions (start/end)
      episodes.jsonl             one EpisodeRecord per finished episode (appended)
      steps/<slug>.jsonl         the StepLogs of one episode, appended step by step
      trajectories/<slug>.json   the episode as a Trajectory (for `lbi export`)

**Versions.** The manifest and every episodes.jsonl and step-log line carry
`format_version` (`FORMAT_VERSION`, an int). Version 1 is also the layout of the runs made
before the field existed: a record without it is read as version 1 (pre-versioning) and
gets the field in memory. A record of a version this lbi_icl does not know is refused
(`NewerFormatError`: file, line and version, one line), never guessed at. A later version
adds an entry to `UPGRADES` that turns a record of the version before into its own, so old
runs keep reading.

**Paths.** Readers never follow a path outside the run directory (`run_file`): a record's
`steps_log` / `trajectory_file` must be `steps/FILE` / `trajectories/FILE`, and a symlink
that leads out is refused.

An episode is identified by its key (strategy, task, seed). episodes.jsonl is append-only,
so a retried episode appears more than once: readers take the *latest* record per key,
which is what keeps resumed totals from double counting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationInfo, field_validator

from lbi_icl.agent.base import FORMAT_VERSION, EpisodeResult
from lbi_icl.data.jsonl import DataError, DataProblem, iter_records

MANIFEST = "manifest.json"
EPISODES = "episodes.jsonl"
STEPS_DIR = "steps"
TRAJ_DIR = "trajectories"
VERSION_KEY = "format_version"
PRE_VERSIONING = 1  # what a record without `format_version` is read as

# version n -> the function that turns a version-n record into a version n+1 record
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

__all__ = [
    "EPISODES",
    "FORMAT_VERSION",
    "MANIFEST",
    "STEPS_DIR",
    "TRAJ_DIR",
    "EpisodeRecord",
    "NewerFormatError",
    "iter_steps",
    "latest_records",
    "read_manifest",
    "read_record_file",
    "read_records",
    "read_steps",
    "require_run_dir",
    "run_file",
    "upgrade",
]


class NewerFormatError(DataError):
    """A record written by a newer lbi_icl (a format version this one does not know)."""

    def __init__(self, path: str, line: int, version: int):
        self.version = version
        why = (
            f"format version {version}, written by a newer lbi_icl (this one reads versions "
            f"up to {FORMAT_VERSION}); upgrade lbi_icl to read it"
        )
        super().__init__([DataProblem(path, line, None, why)])


class EpisodeRecord(EpisodeResult):
    """An episodes.jsonl line: the EpisodeResult without its trajectory, plus where the
    heavy parts live (paths relative to the run directory) and the format version."""

    key: str
    instruction: str | None = None
    steps_log: str
    trajectory_file: str | None = None
    finished_at: str | None = None
    format_version: int = FORMAT_VERSION

    @field_validator("steps_log", "trajectory_file")
    @classmethod
    def _inside(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Written by the runner as `steps/NAME.jsonl` / `trajectories/NAME.json`: anything
        else (an absolute path, `..`) would make readers of the run open outside files."""
        if value is None:
            return value
        folder = STEPS_DIR if info.field_name == "steps_log" else TRAJ_DIR
        parts = PurePosixPath(value).parts
        if len(parts) != 2 or parts[0] != folder or parts[1] in ("..", "."):
            raise ValueError(f"expected {folder}/FILE inside the run directory, got {value!r}")
        return value


def run_file(run_dir: str | Path, rel: str) -> Path:
    """`rel` (a record's steps_log / trajectory_file) inside `run_dir`, symlinks resolved;
    ValueError when it leads outside (the run's readers never follow it there)."""
    root = Path(run_dir).resolve()
    path = (root / rel).resolve()
    if root not in path.parents:
        raise ValueError(f"{run_dir}: {rel} leads outside the run directory; not read")
    return path


def upgrade(record: dict[str, Any], path: str | Path, line: int) -> dict[str, Any] | DataProblem:
    """`record` (a manifest, an episode or a step line) as the current version reads it:
    without a version it is version 1; an older version is upgraded step by step; a bad
    version is a DataProblem; a newer one raises NewerFormatError."""
    version = record.get(VERSION_KEY, PRE_VERSIONING)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        why = f"expected an integer >= 1, got {version!r}"
        return DataProblem(str(path), line, VERSION_KEY, why)
    if version > FORMAT_VERSION:
        raise NewerFormatError(str(path), line, version)
    out = dict(record)
    while version < FORMAT_VERSION:
        out = UPGRADES[version](out)
        version += 1
    out.pop(VERSION_KEY, None)
    return {VERSION_KEY: version, **out}  # first, where the writers put it


def read_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's manifest.json (None when there is none), upgraded to the current version.
    ValueError when it is unreadable; NewerFormatError when a newer lbi_icl wrote it."""
    p = Path(run_dir) / MANIFEST
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as e:
        raise ValueError(f"{p}: not a readable run manifest, probably truncated ({e})") from e
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object")
    out = upgrade(data, p, 0)
    if isinstance(out, DataProblem):
        raise DataError([out])
    return out


def require_run_dir(run_dir: str | Path) -> Path:
    """`run_dir` must be a run directory (made by `lbi run` / `lbi ablate`)."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    if not (run / MANIFEST).is_file():
        raise FileNotFoundError(
            f"{run}: not a run directory (no {MANIFEST}; made by `lbi run` / `lbi ablate`)"
        )
    return run


def read_record_file(path: str | Path) -> list[EpisodeRecord]:
    """Every episode record of a file in episodes.jsonl's format (episodes.jsonl itself, or
    what `lbi rescore` writes), in file order. A torn last line (crash mid-write) is
    skipped; any other bad line raises DataError naming file and line; a newer version
    raises NewerFormatError."""
    path = Path(path)
    out: list[EpisodeRecord] = []
    problems: list[DataProblem] = []
    for lineno, rec in iter_records(path, allow_torn_tail=True):
        if not isinstance(rec, DataProblem):
            rec = upgrade(rec, path, lineno)
        if isinstance(rec, DataProblem):
            problems.append(rec)
            continue
        try:
            out.append(EpisodeRecord.model_validate(rec))
        except ValueError as e:
            problems.append(DataProblem(str(path), lineno, None, f"not an episode record: {e}"))
    if problems:
        raise DataError(problems)
    return out


def read_records(run_dir: str | Path) -> list[EpisodeRecord]:
    """Every record of the run's episodes.jsonl in file order ([] when there is none)."""
    path = Path(run_dir) / EPISODES
    return read_record_file(path) if path.exists() else []


def latest_records(run_dir: str | Path) -> dict[str, EpisodeRecord]:
    """The latest record per episode key (retries and resumes replace earlier attempts)."""
    latest: dict[str, EpisodeRecord] = {}
    for rec in read_records(run_dir):
        latest.pop(rec.key, None)  # keep insertion order = order of the latest attempt
        latest[rec.key] = rec
    return latest


def iter_steps(
    path: str | Path, *, allow_torn_tail: bool = False
) -> Iterator[tuple[int, dict[str, Any] | DataProblem]]:
    """A step log's lines as written (any JSON object, upgraded to the current version) or
    the problem with each line; NewerFormatError on a line of a newer version."""
    for lineno, row in iter_records(path, allow_torn_tail=allow_torn_tail):
        yield lineno, row if isinstance(row, DataProblem) else upgrade(row, path, lineno)


def read_steps(
    path: str | Path, *, allow_torn_tail: bool = False
) -> tuple[list[dict[str, Any]], list[DataProblem]]:
    """A step log's lines and the problems found (a missing log is one problem; a file that
    is not UTF-8 keeps the lines read before it). NewerFormatError is raised, not listed:
    nothing of a newer run log is shown as if it were understood."""
    p = Path(path)
    steps: list[dict[str, Any]] = []
    problems: list[DataProblem] = []
    if not p.exists():
        return steps, [DataProblem(str(p), 0, None, "no step log (the episode wrote none)")]
    try:
        for _, row in iter_steps(p, allow_torn_tail=allow_torn_tail):
            (problems if isinstance(row, DataProblem) else steps).append(row)  # type: ignore[arg-type]
    except NewerFormatError:
        raise
    except DataError as e:
        problems += e.problems
    return steps, problems
