"""SWE-bench task records: the pydantic model, JSONL loading, and validation against the
repositories, so that a bad record is reported (naming the instance) before any episode.

A record is what SWE-bench publishes (`instance_id`, `repo`, `base_commit`,
`problem_statement`, `patch`, `test_patch`, `FAIL_TO_PASS`, `PASS_TO_PASS`, ...). Extra
fields (`created_at`, `hints_text`, ...) are kept and ignored. `FAIL_TO_PASS` and
`PASS_TO_PASS` may be JSON lists or JSON-encoded strings (the published dataset uses the
latter). `repo` is a GitHub `owner/name`, a local git repository path (relative paths are
resolved against the tasks file's folder) or a `file://` URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lbi_icl.envs.base import EnvError

GITHUB_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_DIFF_FILE = re.compile(r"^\+\+\+ b/(.+)$", re.MULTILINE)


class TaskRecordError(EnvError, ValueError):
    """A task record (or the tasks file) is malformed or does not match its repository;
    raised by `SWEEnv.tasks()`, so before any episode runs."""


class SWEInstance(BaseModel):
    model_config = ConfigDict(extra="allow")

    instance_id: str = Field(min_length=1)
    repo: str = Field(min_length=1)
    base_commit: str = Field(min_length=4)
    problem_statement: str
    patch: str
    test_patch: str = ""
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    environment_setup_commit: str | None = None
    version: str | None = None

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as e:
                raise ValueError(f"not a JSON list of test ids: {e}") from e
        return value

    @field_validator("FAIL_TO_PASS")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("FAIL_TO_PASS is empty: nothing would show the fix works")
        return value

    def tests(self) -> list[str]:
        return [*self.FAIL_TO_PASS, *self.PASS_TO_PASS]

    def test_files(self) -> list[str]:
        """The files of the pytest node ids, in first-seen order."""
        seen: dict[str, None] = {}
        for node in self.tests():
            seen.setdefault(node.split("::", 1)[0], None)
        return list(seen)


def patch_files(patch: str) -> list[str]:
    """Files a unified diff writes (its `+++ b/...` lines)."""
    return _DIFF_FILE.findall(patch)


def resolve_repo(repo: str, base_dir: Path | None) -> str:
    """A clonable source: a local path (absolute), a file:// URL, or a GitHub URL."""
    if repo.startswith("file://"):
        return repo
    path = Path(repo)
    if base_dir is not None and not path.is_absolute():
        candidate = base_dir / path
        if candidate.exists():
            return str(candidate.resolve())
    if path.is_absolute() or path.exists():
        return str(path.resolve())
    if GITHUB_NAME.match(repo):
        return f"https://github.com/{repo}.git"
    return repo


def load_records(path: Path) -> list[SWEInstance]:
    """Read a JSONL of records; errors name the file, line and instance."""
    out: list[SWEInstance] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise TaskRecordError(f"{path}:{lineno}: not JSON ({e})") from e
            name = raw.get("instance_id", "?") if isinstance(raw, dict) else "?"
            try:
                rec = SWEInstance.model_validate(raw)
            except ValidationError as e:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
                    for err in e.errors()
                )
                raise TaskRecordError(f"{path}:{lineno}: instance {name}: {problems}") from e
            if rec.instance_id in seen:
                raise TaskRecordError(
                    f"{path}:{lineno}: instance {rec.instance_id}: duplicate of line "
                    f"{seen[rec.instance_id]}"
                )
            seen[rec.instance_id] = lineno
            out.append(rec)
    return out


class _Objects:
    """Reads objects of one repository through a single `git cat-file --batch` process
    (validating hundreds of records would otherwise spawn thousands of git processes)."""

    def __init__(self, repo: str) -> None:
        self.repo = repo
        self.proc = subprocess.Popen(
            ["git", "-C", repo, "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.names: dict[str, set[str]] = {}  # tree id -> functions defined in its .py files

    def read(self, spec: str) -> tuple[str, bytes] | None:
        """(type, content) of `spec` (e.g. 'COMMIT:path'), or None when it does not exist."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(spec.encode() + b"\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline().decode("utf-8", errors="replace")
        except BrokenPipeError:  # git already exited: not a repository
            line = ""
        if not line:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise TaskRecordError(f"{self.repo}: not a git repository ({err.strip()})")
        header = line.split()
        if header[-1] in ("missing", "ambiguous") or len(header) != 3:
            return None
        size = int(header[2])
        data = self.proc.stdout.read(size)
        self.proc.stdout.read(1)
        return header[1], data

    def commit_exists(self, rev: str) -> bool:
        got = self.read(f"{rev}^{{commit}}")
        return got is not None and got[0] == "commit"

    def text(self, commit: str, path: str) -> str | None:
        got = self.read(f"{commit}:{path}")
        if got is None or got[0] != "blob":
            return None
        return got[1].decode("utf-8", errors="replace")

    def defined_in_folder(self, commit: str, folder: str) -> set[str]:
        """Function names defined in the .py files of `folder` (mixins' test methods)."""
        tree = self.read(f"{commit}:{folder}" if folder != "." else f"{commit}^{{tree}}")
        if tree is None or tree[0] != "tree":
            return set()
        key = hashlib.sha1(tree[1]).hexdigest()
        if key not in self.names:
            names: set[str] = set()
            for entry in _tree_entries(tree[1]):
                if entry.endswith(".py"):
                    text = self.text(commit, entry if folder == "." else f"{folder}/{entry}")
                    names.update(re.findall(r"\bdef\s+(\w+)", text or ""))
            self.names[key] = names
        return self.names[key]

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _tree_entries(raw: bytes) -> list[str]:
    """File names in a raw git tree object ('<mode> <name>\\0<20-byte id>' records)."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        nul = raw.index(b"\0", i)
        out.append(raw[i:nul].split(b" ", 1)[1].decode("utf-8", errors="replace"))
        i = nul + 21
    return out


def _test_name(node: str) -> str:
    """`tests/test_x.py::TestA::test_b[1-2]` -> `test_b`."""
    last = node.split("::")[-1]
    return last.split("[", 1)[0]


def validate_local(records: list[SWEInstance], base_dir: Path | None) -> None:
    """Check records against local repositories: the repository exists, `base_commit` is a
    commit in it, every test file exists at `base_commit` (or is written by `test_patch`),
    and every test function is defined there. Records with remote repositories are only
    checked for shape (they are cloned at reset). Raises `TaskRecordError` naming the
    instance and what is wrong."""
    by_repo: dict[str, list[SWEInstance]] = {}
    for rec in records:
        src = resolve_repo(rec.repo, base_dir)
        if src.startswith("https://"):
            continue
        local = src.removeprefix("file://")
        if not Path(local).exists():
            raise TaskRecordError(
                f"instance {rec.instance_id}: repository {rec.repo!r} not found "
                f"(looked for {local})"
            )
        by_repo.setdefault(local, []).append(rec)
    for local, recs in by_repo.items():
        objects = _Objects(local)
        try:
            for rec in recs:
                _check_record(objects, rec)
        finally:
            objects.close()


def _check_record(objects: _Objects, rec: SWEInstance) -> None:
    if not objects.commit_exists(rec.base_commit):
        raise TaskRecordError(
            f"instance {rec.instance_id}: base_commit {rec.base_commit} is not a commit of "
            f"{rec.repo}"
        )
    patched = set(patch_files(rec.test_patch))
    texts: dict[str, str] = {}
    for file in rec.test_files():
        if file in patched:
            continue
        text = objects.text(rec.base_commit, file)
        if text is None:
            raise TaskRecordError(
                f"instance {rec.instance_id}: test file {file} does not exist at "
                f"{rec.base_commit[:12]} in {rec.repo}"
            )
        texts[file] = text
    for node in rec.tests():
        file = node.split("::", 1)[0]
        if file in patched or "::" not in node:
            continue
        name = _test_name(node)
        if re.search(rf"\bdef {re.escape(name)}\b", texts[file]):
            continue
        folder = file.rsplit("/", 1)[0] if "/" in file else "."
        if name not in objects.defined_in_folder(rec.base_commit, folder):
            raise TaskRecordError(
                f"instance {rec.instance_id}: test {node} does not exist "
                f"(no function {name} in {file} or its folder at {rec.base_commit[:12]})"
            )
