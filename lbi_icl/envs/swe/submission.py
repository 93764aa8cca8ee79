"""What an agent submits: every change in its checkout against the base commit, as one
binary-safe diff, minus the paths the grader never takes from an agent.

The diff is read from the files alone: git runs with the workspace's private copy of the
base commit as its repository and the agent's folder as the work tree, with a throw-away
index and no user or system configuration, so nothing in the agent's own `.git` (hooks,
`core.fsmonitor`, filters, a rewritten history) is read or run. New, untracked and ignored
files are included (`add --all --force`); byte caches are not.

Protected paths are dropped from the submission and listed in `Submission.excluded`, because
the test run would execute them before or around the tests: `conftest.py`,
`sitecustomize.py` / `usercustomize.py`, `*.pth`, `*.dist-info` / `*.egg-info` (pytest
plugins by entry point), pytest's own configuration files (`pytest.ini`, `.pytest.ini`,
`tox.ini`), everything under a `test` / `tests` / `testing` folder, `test_*.py` /
`*_test.py` files, the files of the graded tests and of the test patch, and nested
repositories. What is graded is exactly `Submission.diff`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.envs.base import EnvError

MAX_DIFF_BYTES = 10 * 2**20
_JUNK_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_JUNK_SUFFIXES = (".pyc", ".pyo")
_HOOK_FILES = frozenset(
    {"conftest.py", "sitecustomize.py", "usercustomize.py", "pytest.ini", ".pytest.ini", "tox.ini"}
)
_TEST_DIRS = frozenset({"test", "tests", "testing"})
_PACKAGE_METADATA = (".dist-info", ".egg-info")
GITLINK_MODE = "160000"
NULL_ID = "0" * 40


class Submission(BaseModel):
    """The graded diff and what was left out of it (paths, with the reason)."""

    model_config = ConfigDict(extra="forbid")

    diff: str
    excluded: dict[str, str] = Field(default_factory=dict)
    error: str | None = None  # set when the submission cannot be graded (e.g. too large)


def is_junk(path: str) -> bool:
    parts = path.split("/")
    return any(p in _JUNK_DIRS for p in parts) or path.endswith(_JUNK_SUFFIXES)


def protection(path: str, test_files: Iterable[str] = ()) -> str | None:
    """Why the grader does not take `path` from an agent (None: it does)."""
    parts = path.split("/")
    name = parts[-1]
    if path in set(test_files):
        return "graded test file"
    if name in _HOOK_FILES or name.endswith(".pth"):
        return "runs at interpreter or pytest start-up"
    if any(p.endswith(_PACKAGE_METADATA) for p in parts):
        return "package metadata (pytest plugins are found through it)"
    if any(p in _TEST_DIRS for p in parts[:-1]):
        return "test folder"
    if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")):
        return "test file"
    return None


def _git_env(base_git: Path, worktree: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_DIR=str(base_git),
        GIT_WORK_TREE=str(worktree),
        GIT_INDEX_FILE=str(index),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
    )
    return env


_SAFE_CONFIG = (
    "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
    "-c", "core.untrackedCache=false", "-c", "core.autocrlf=false",
    "-c", "core.symlinks=true", "-c", "core.filemode=true", "-c", "core.quotePath=false",
)  # fmt: skip


def _run(env: dict[str, str], *args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(
        ["git", *_SAFE_CONFIG, *args], env=env, input=input, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise EnvError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _changed(env: dict[str, str], base_sha: str) -> list[tuple[str, str]]:
    """(path, new mode) of every path whose index entry differs from the base commit."""
    raw = _run(env, "diff-index", "--cached", "-z", "--no-renames", base_sha)
    fields = raw.split(b"\0")
    out: list[tuple[str, str]] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta:
            continue
        new_mode = meta.decode().split()[1]
        out.append((path.decode("utf-8", errors="surrogateescape"), new_mode))
    return out


def take_submission(
    base_git: Path, worktree: Path, base_sha: str, *, test_files: Iterable[str] = ()
) -> Submission:
    """The agent's submission from the folder `worktree` (see the module docstring)."""
    test_files = list(test_files)
    with tempfile.TemporaryDirectory(prefix="lbi-submit-") as tmp:
        env = _git_env(base_git, worktree, Path(tmp) / "index")
        _run(env, "read-tree", base_sha)
        _run(env, "add", "--all", "--force", "--", ".")
        excluded: dict[str, str] = {}
        for path, mode in _changed(env, base_sha):
            why = "junk" if is_junk(path) else protection(path, test_files)
            if why is None and mode == GITLINK_MODE:
                why = "nested repository"
            if why is not None:
                excluded[path] = why
        if excluded:
            _restore(env, base_sha, sorted(excluded))
        raw = _run(env, "diff", "--cached", "--binary", "--full-index", "--no-color", base_sha)
    diff = raw.decode("utf-8", errors="surrogateescape")
    excluded = {p: why for p, why in excluded.items() if why != "junk"}
    if len(raw) > MAX_DIFF_BYTES:
        return Submission(
            diff="",
            excluded=excluded,
            error=f"the submission is {len(raw) / 2**20:.1f} MiB "
            f"(at most {MAX_DIFF_BYTES // 2**20} MiB are graded)",
        )
    return Submission(diff=diff, excluded=excluded)


def _restore(env: dict[str, str], base_sha: str, paths: list[str]) -> None:
    """Put `paths` back to the base commit in the index (removing those it does not have)."""
    encoded = [p.encode("utf-8", errors="surrogateescape") for p in paths]
    listed = _run(env, "ls-tree", "-r", "-z", "--full-tree", base_sha)
    base: dict[bytes, bytes] = {}
    for entry in listed.split(b"\0"):
        if entry:
            meta, _, name = entry.partition(b"\t")
            base[name] = meta
    lines = []
    for path in encoded:
        if path in base:
            mode, _, sha = base[path].split(b" ")
            lines.append(mode + b" " + sha + b"\t" + path)
        else:
            lines.append(b"0 " + NULL_ID.encode() + b"\t" + path)
    _run(env, "update-index", "-z", "--index-info", input=b"\0".join(lines) + b"\0")


def encode_diff(diff: str) -> bytes:
    """The bytes of a submission's diff (the inverse of how `take_submission` decoded it)."""
    return diff.encode("utf-8", errors="surrogateescape")
