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


def write_tree(repo: Path, parent: str, changes: dict[str, str | None]) -> str:
    """The tree of `parent` with each file of `changes` set to its text (None: deleted),
    written without touching the working tree or the repository's index."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(repo, "read-tree", parent, extra_env=extra)
        for rel, text in sorted(changes.items()):
            if text is None:
                run_git(repo, "update-index", "--force-remove", "--", rel, extra_env=extra)
                continue
            blob = run_git(repo, "hash-object", "-w", "--stdin", input=text.encode("utf-8"))
            run_git(
                repo,
                "update-index",
                "--add",
                "--cacheinfo",
                f"100644,{blob.strip()},{rel}",
                extra_env=extra,
            )
        return run_git(repo, "write-tree", extra_env=extra).strip()


def commit_changes(
    repo: Path, parent: str, changes: dict[str, str | None], message: str, ref: str
) -> str:
    """A commit of `parent`'s tree with `changes` applied; `ref` (e.g. refs/tags/ID) keeps
    it reachable. It is a root commit with a neutral message, so `git log` / `git diff
    HEAD~1` in a workspace do not reveal the fix."""
    tree = write_tree(repo, parent, changes)
    commit = run_git(repo, "commit-tree", tree, "-m", message).strip()
    run_git(repo, "update-ref", ref, commit)
    return commit


def tree_of(repo: Path, rev: str) -> str:
    return run_git(repo, "rev-parse", f"{rev}^{{tree}}").strip()


def apply_to_tree(repo: Path, rev: str, *patches: str) -> str:
    """The tree of `rev` with `patches` applied in turn (`git apply --cached` in a
    throw-away index); raises RuntimeError when one does not apply."""
    with tempfile.TemporaryDirectory() as tmp:
        extra = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(repo, "read-tree", rev, extra_env=extra)
        for patch in patches:
            if patch:
                run_git(repo, "apply", "--cached", "-", input=patch.encode(), extra_env=extra)
        return run_git(repo, "write-tree", extra_env=extra).strip()


def diff(repo: Path, a: str, b: str, paths: list[str] | None = None) -> str:
    args = ["diff", "--no-color", "--no-ext-diff", "--no-renames", "--full-index", a, b]
    return run_git(repo, *args, *(["--", *paths] if paths else []))
