"""Episode identity and where an episode's files go: the key (strategy, task, seed), a
file-name-safe slug, the step-log and trajectory paths the runner writes.

The layout, the versioned records and their reading live in `runlog.py` (re-exported here
for the code that imports them from this module).
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel

from lbi_icl.runner.runlog import (
    EPISODES,
    MANIFEST,
    STEPS_DIR,
    TRAJ_DIR,
    EpisodeRecord,
    latest_records,
    read_records,
    run_file,
)

LLM_CACHE = "llm_cache.sqlite"  # the default response cache (with its -wal / -shm files)

__all__ = [
    "EPISODES",
    "LLM_CACHE",
    "MANIFEST",
    "STEPS_DIR",
    "TRAJ_DIR",
    "EpisodeRecord",
    "EpisodeSpec",
    "episode_key",
    "episode_slug",
    "is_finished",
    "latest_records",
    "read_records",
    "run_file",
    "steps_path",
    "trajectory_path",
]


class EpisodeSpec(BaseModel):
    """One cell of the experiment grid."""

    strategy: str
    task_id: str
    seed: int

    @property
    def key(self) -> str:
        return episode_key(self.strategy, self.task_id, self.seed)


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


def is_finished(rec: EpisodeRecord) -> bool:
    """Finished = ended without an infrastructure error (a failed task is still finished)."""
    return rec.error is None and rec.stop_reason != "error"
