"""SWE task records: the pydantic model, JSONL loading, and where each record's repository
is found.

Accepted formats:
- **SWE-bench** (`instance_id`, `repo`, `base_commit`, `problem_statement`, `patch`,
  `test_patch`, `FAIL_TO_PASS`, `PASS_TO_PASS`, `hints_text`, `created_at`, `version`,
  `environment_setup_commit`): the test lists may be JSON lists or JSON-encoded strings
  (the published dataset uses the latter).
- **SWE-smith** (recognised by `image_name`): `patch` is the diff that *introduces* the bug
  (kept as `bug_patch`; the gold fix is it reversed), `repo` is the mirror
  (`swesmith/owner__name.commit`), and the bug is the branch named by `instance_id` when a
  record has no `base_commit`.
- **This project's task set** (`lbi swe build-tasks`): SWE-bench records plus `mirror` (the
  local repository, relative to the tasks file), `split`, `project`, `mutation`, ...
Extra fields are kept.

Where the repository comes from, first match wins: the `repo_map` file (`owner/name` →
local path), the record's `mirror`, `repo` as a local path (relative to the tasks file's
folder) or `file://` URL, else GitHub (`https://github.com/owner/name.git`, cloned at reset
where the network allows).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lbi_icl.envs.base import EnvError
from lbi_icl.envs.swe.patches import patch_files, reverse_patch

GITHUB_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

__all__ = ["GITHUB_NAME", "SWEInstance", "TaskRecordError", "load_records", "patch_files"]


class TaskRecordError(EnvError, ValueError):
    """A task record (or the tasks file) is malformed or does not match its repository;
    raised by `SWEEnv.tasks()`, so before any episode runs."""


class SWEInstance(BaseModel):
    model_config = ConfigDict(extra="allow")

    instance_id: str = Field(min_length=1)
    repo: str = Field(min_length=1)
    base_commit: str = Field(min_length=4)  # a commit id, or a ref (a SWE-smith branch)
    problem_statement: str
    patch: str  # the gold fix
    test_patch: str = ""
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    environment_setup_commit: str | None = None
    version: str | None = None
    mirror: str | None = None  # a local copy of `repo` (relative to the tasks file)
    record_format: str = "swebench"  # swebench | swesmith

    @model_validator(mode="before")
    @classmethod
    def _swesmith(cls, data: Any) -> Any:
        """SWE-smith: the fix is the bug patch reversed; the bug is a branch when the record
        names no commit."""
        if not isinstance(data, dict) or "image_name" not in data or "bug_patch" in data:
            return data
        data = dict(data)
        bug = data.get("patch")
        if isinstance(bug, str):
            data["bug_patch"] = bug
            try:
                data["patch"] = reverse_patch(bug)
            except ValueError as e:
                raise ValueError(f"patch: {e}") from e
        if not data.get("base_commit") and isinstance(data.get("instance_id"), str):
            data["base_commit"] = f"refs/heads/{data['instance_id']}"
        data.setdefault("problem_statement", "")
        data["record_format"] = "swesmith"
        return data

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

    def protected_files(self) -> list[str]:
        """Files the grader resets to the base commit: the graded tests' and the test
        patch's (as SWE-bench does)."""
        return list(dict.fromkeys([*self.test_files(), *patch_files(self.test_patch)]))


def load_repo_map(path: str | Path) -> dict[str, str]:
    """A `repo_map` file: a JSON or YAML mapping of `owner/name` to a local repository path
    (relative paths are taken from the file's folder)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (OSError, json.JSONDecodeError, yaml.YAMLError) as e:
        raise TaskRecordError(f"repo_map {p}: cannot read it ({e})") from e
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise TaskRecordError(
            f"repo_map {p}: expected a mapping of 'owner/name' to a local repository path"
        )
    return {k: str((p.parent / v).resolve()) if not Path(v).is_absolute() else v
            for k, v in data.items()}  # fmt: skip


def local_path(candidate: str, base_dir: Path | None) -> Path | None:
    """`candidate` as an existing local path (relative ones from `base_dir` first)."""
    path = Path(candidate.removeprefix("file://"))
    if not path.is_absolute() and base_dir is not None and (base_dir / path).exists():
        return (base_dir / path).resolve()
    return path.resolve() if path.exists() else None


def resolve_repo(
    inst: SWEInstance, base_dir: Path | None, repo_map: dict[str, str] | None = None
) -> str:
    """A fetchable source for the record's repository: a local path (absolute) or a GitHub
    URL (see the module docstring for the order). A path that exists nowhere is returned
    as given, for validation to name."""
    if repo_map and inst.repo in repo_map:
        return repo_map[inst.repo]
    for candidate in (inst.mirror, inst.repo):
        if candidate is not None and (local := local_path(candidate, base_dir)) is not None:
            return str(local)
    if GITHUB_NAME.match(inst.repo):
        return f"https://github.com/{inst.repo}.git"
    return inst.repo


def is_remote(source: str) -> bool:
    return source.startswith(("https://", "http://", "git@", "ssh://"))


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
