"""Deterministic git plumbing for the task set: fixed author, committer and dates, so the
same tree gives the same commit id on every machine."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

AUTHOR = ("lbi task-set builder", "taskset@lbi.invalid")
DATE = "2000-01-01T00:00:00+0000"


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in ("GIT_EXEC_PATH",)
    }
    env.update(
        GIT_AUTHOR_NAME=AUTHOR[0],
        GIT_AUTHOR_EMAIL=AUTHOR[1],
        GIT_AUTHOR_DATE=DATE,
        GIT_COMMITTER_NAME=AUTHOR[0],
        GIT_COMMITTER_EMAIL=AUTHOR[1],
        GIT_COMMITTER_DATE=DATE,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
    )
    if extra:
        env.update(extra)
    return env


def run_git(
    repo: Path, *args: str, input: bytes | None = None, extra_env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=str(repo),
        input=input,
        capture_output=True,
        env=_env(extra_env),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"git {' '.join(args)} in {repo}: {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout.decode("utf-8", errors="replace")


def init_repo(tree: Path, message: str) -> str:
    """`git init` the folder `tree` and commit everything in it; returns the commit id."""
    run_git(tree, "init", "--quiet", "--initial-branch=main")
    run_git(tree, "config", "core.autocrlf", "false")
    run_git(tree, "add", "--all", "--force", ".")
    run_git(tree, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message)
    return run_git(tree, "rev-parse", "HEAD").strip()


def commit_file_change(repo: Path, parent: str, rel: str, text: str, message: str, ref: str) -> str:
    """A commit of `parent`'s tree with file `rel` = `text`, made without touching the
    working tree; `ref` (e.g. refs/tags/ID) keeps it reachable. It is a root commit with a
    neutral message, so `git log` / `git diff HEAD~1` in a workspace do not reveal the fix."""
    blob = run_git(repo, "hash-object", "-w", "--stdin", input=text.encode("utf-8")).strip()
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(repo, "read-tree", parent, extra_env=extra)
        run_git(
            repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", extra_env=extra
        )
        tree = run_git(repo, "write-tree", extra_env=extra).strip()
    commit = run_git(repo, "commit-tree", tree, "-m", message).strip()
    run_git(repo, "update-ref", ref, commit)
    return commit


def diff(repo: Path, a: str, b: str) -> str:
    return run_git(repo, "diff", "--no-color", "--no-ext-diff", "--full-index", a, b)
