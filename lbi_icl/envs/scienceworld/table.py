"""The ScienceWorld task table: the benchmark's train/dev/test variation splits and every
variation's task description, packaged as `scienceworld_tasks.json.gz` (rebuilt by
`python -m lbi_icl.envs.scienceworld build-table`) so listing tasks needs no JVM; a table for
another installed package version is cached under the user cache."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from lbi_icl.envs.base import EnvError

ENV_NAME = "scienceworld"
SPLITS = ("train", "dev", "test")
TABLE_PATH = Path(__file__).parent.parent / "scienceworld_tasks.json.gz"
AMBIGUOUS_PREFIX = "Ambiguous request"
NO_MATCH = "No known action matches that input."


def _installed_version() -> str | None:
    try:
        from scienceworld import __version__
    except ImportError:
        return None
    return str(__version__)


def _task_catalog() -> dict[str, dict[str, str]]:
    """Package metadata per task name: official id ('1-1'), topic, title."""
    try:
        from scienceworld.constants import TASKS
        from scienceworld.utils import infer_task
    except ImportError:
        return {}
    return {
        infer_task(t["task_name"]): {
            "task_num": t["task_id"],
            "topic": t["topic"],
            "title": t["task"],
        }
        for t in TASKS
    }


def _read_table(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        table = json.load(fh)
    if not isinstance(table, dict) or not isinstance(table.get("tasks"), dict):
        raise EnvError(f"{path}: not a ScienceWorld task table (missing 'tasks')")
    return table


def _write_table(path: Path, table: dict[str, Any]) -> None:
    """Atomic: a crash never leaves a half-written table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(json.dumps(table, sort_keys=True).encode("utf-8"))
        os.chmod(tmp, 0o644)  # a packaged data file, readable by all like the rest
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _user_cache_dir() -> Path:
    from lbi_icl.util.cache_dir import cache_root

    return cache_root()


def _user_cache_path(version: str) -> Path:
    return _user_cache_dir() / f"scienceworld_tasks-{version}.json.gz"
