"""A run directory's on-disk layout and its episode records.

    runs/NAME/
      manifest.json              config, versions, index hash, sessions (start/end)
      episodes.jsonl             one EpisodeRecord per finished episode (appended)
      steps/<slug>.jsonl         the StepLogs of one episode, appended step by step
      trajectories/<slug>.json   the episode as a Trajectory (for `lbi export`)

An episode is identified by its key (strategy, task, seed). episodes.jsonl is append-only,
so a retried episode appears more than once: readers take the *latest* record per key,
which is what keeps resumed totals from double counting.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ValidationInfo, field_validator

from lbi_icl.agent.base import EpisodeResult
from lbi_icl.jsonl import DataError, DataProblem, iter_records

MANIFEST = "manifest.json"
EPISODES = "episodes.jsonl"
STEPS_DIR = "steps"
TRAJ_DIR = "trajectories"
LLM_CACHE = "llm_cache.sqlite"  # the default response cache (with its -wal / -shm files)


class EpisodeSpec(BaseModel):
    """One cell of the experiment grid."""

    strategy: str
    task_id: str
    seed: int

    @property
    def key(self) -> str:
        return episode_key(self.strategy, self.task_id, self.seed)


class EpisodeRecord(EpisodeResult):
    """An episodes.jsonl line: the EpisodeResult without its trajectory, plus where the
    heavy parts live (paths relative to the run directory)."""

    key: str
    instruction: str | None = None
    steps_log: str
    trajectory_file: str | None = None
    finished_at: str | None = None

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


def episode_key(strategy: str, task_id: str, seed: int) -> str:
    return f"{strategy}|{task_id}|{seed}"


def episode_slug(key: str) -> str:
    """A file-name-safe, collision-free name for a key (task ids may hold '/', ':')."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", key.replace("|", "__"))[:80]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


def steps_path(key: str) -> str:
    return f"{STEPS_DIR}/{episode_slug(key)}.jsonl"


def trajectory_path(key: str) -> str:
    return f"{TRAJ_DIR}/{episode_slug(key)}.json"


def read_records(run_dir: str | Path) -> list[EpisodeRecord]:
    """Every record in file order. A torn last line (crash mid-write) is skipped; any other
    bad line raises DataError naming file and line."""
    path = Path(run_dir) / EPISODES
    if not path.exists():
        return []
    out: list[EpisodeRecord] = []
    problems: list[DataProblem] = []
    for lineno, rec in iter_records(path, allow_torn_tail=True):
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


def latest_records(run_dir: str | Path) -> dict[str, EpisodeRecord]:
    """The latest record per episode key (retries and resumes replace earlier attempts)."""
    latest: dict[str, EpisodeRecord] = {}
    for rec in read_records(run_dir):
        latest.pop(rec.key, None)  # keep insertion order = order of the latest attempt
        latest[rec.key] = rec
    return latest


def is_finished(rec: EpisodeRecord) -> bool:
    """Finished = ended without an infrastructure error (a failed task is still finished)."""
    return rec.error is None and rec.stop_reason != "error"
