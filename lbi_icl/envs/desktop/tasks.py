"""OSWorld-format task files: the model, and finding the tasks of a folder.

A task folder (`tasks_dir=`) is an OSWorld or Spider2-V checkout (the folder holding
`evaluation_examples/`) or a folder holding `examples/` directly (the project's own set
from `lbi desktop build-tasks`). Task files are `examples/<domain>/<id>.json` (OSWorld) or
`examples/<domain>/<id>/<id>.json` (Spider2-V). Split files beside `examples/` map
domain → ids: `test_all.json` (OSWorld, Spider2-V), `train.json` / `test.json` (the
project's set); without them every task file found is in the `test` split.

Relative host paths inside a task (`upload_file` `local_path`, Spider2-V's
`copyfile_from_host_to_guest` `src` and `local_file` getters) are read relative to
`tasks_dir`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class TaskFileError(ValueError):
    """A task or split file is malformed; the message names the file and the field."""


class ConfigStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)


class Evaluator(BaseModel):
    model_config = ConfigDict(extra="allow")

    func: str | list[str]
    result: dict[str, Any] | list[dict[str, Any]] | None = None
    expected: dict[str, Any] | list[dict[str, Any] | None] | None = None
    options: dict[str, Any] | list[dict[str, Any] | None] | None = None
    conj: Literal["and", "or"] = "and"
    postconfig: list[ConfigStep] = Field(default_factory=list)

    @field_validator("func")
    @classmethod
    def _func_names(cls, v: str | list[str]) -> str | list[str]:
        names = v if isinstance(v, list) else [v]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError("func must name a metric (or a list of metrics)")
        return v

    def metric_names(self) -> list[str]:
        return list(self.func) if isinstance(self.func, list) else [self.func]

    def getter_configs(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in (self.result, self.expected):
            items = part if isinstance(part, list) else [part]
            out += [c for c in items if isinstance(c, dict)]
        return out


class OSWorldTask(BaseModel):
    """One task file. Unknown keys are kept (`snapshot`, `source`, Spider2-V's `tags`,
    `action_number`, `counterpart`, ...). `expert` (the project's extension) is a
    keyboard-first solution: pyautogui code strings, replayed by the `expert` explorer."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    instruction: str = Field(min_length=1)
    config: list[ConfigStep] = Field(default_factory=list)
    evaluator: Evaluator
    related_apps: list[str] = Field(default_factory=list)
    snapshot: str = ""
    expert: list[str] | None = None

    @property
    def infeasible(self) -> bool:
        return self.evaluator.func == "infeasible"


def _where(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    return f"field {loc}: {err['msg']}"


def load_task(path: Path) -> OSWorldTask:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise TaskFileError(f"{path}: cannot read: {e}") from e
    except json.JSONDecodeError as e:
        raise TaskFileError(f"{path}: line {e.lineno}: invalid JSON: {e.msg}") from e
    if not isinstance(data, dict):
        raise TaskFileError(f"{path}: a task file holds one JSON object")
    try:
        return OSWorldTask.model_validate(data)
    except ValidationError as e:
        raise TaskFileError(f"{path}: {_where(e)}") from e


def examples_root(tasks_dir: Path) -> Path:
    """The folder holding `examples/` (and the split files)."""
    for cand in (tasks_dir / "evaluation_examples", tasks_dir):
        if (cand / "examples").is_dir():
            return cand
    raise TaskFileError(
        f"{tasks_dir}: no examples/ folder here or in evaluation_examples/ "
        "(tasks_dir is an OSWorld or Spider2-V checkout, or a folder from "
        "`lbi desktop build-tasks`)"
    )


def task_path(root: Path, domain: str, task_id: str) -> Path:
    flat = root / "examples" / domain / f"{task_id}.json"
    nested = root / "examples" / domain / task_id / f"{task_id}.json"
    return nested if nested.exists() and not flat.exists() else flat


def read_split(root: Path, split: str) -> dict[str, list[str]] | None:
    """domain → ids of a split file, None when the folder has no such file."""
    names = {"test": ["test.json", "test_all.json"], "train": ["train.json"]}.get(split, [])
    names = names or [f"{split}.json"]
    for name in names:
        path = root / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TaskFileError(f"{path}: line {e.lineno}: invalid JSON: {e.msg}") from e
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v)
            for k, v in data.items()
        ):
            raise TaskFileError(f"{path}: a split file maps each domain to a list of task ids")
        return data
    return None


def scan(root: Path) -> dict[str, list[str]]:
    """domain → ids of every task file under examples/ (no split file)."""
    out: dict[str, list[str]] = {}
    for domain_dir in sorted(p for p in (root / "examples").iterdir() if p.is_dir()):
        ids = []
        for entry in sorted(domain_dir.iterdir()):
            if entry.is_file() and entry.suffix == ".json":
                ids.append(entry.stem)
            elif entry.is_dir() and (entry / f"{entry.name}.json").exists():
                ids.append(entry.name)
        if ids:
            out[domain_dir.name] = ids
    return out


def list_tasks(tasks_dir: Path, split: str) -> list[tuple[str, Path, OSWorldTask]]:
    """(domain, file, task) of a split, in the split file's order (else sorted)."""
    root = examples_root(tasks_dir)
    mapping = read_split(root, split)
    if mapping is None:
        mapping = scan(root) if split == "test" else {}
    out = []
    for domain, ids in mapping.items():
        for task_id in ids:
            path = task_path(root, domain, task_id)
            if not path.exists():
                raise TaskFileError(f"{root}: split {split!r} names {domain}/{task_id}: no {path}")
            task = load_task(path)
            if task.id != task_id:
                raise TaskFileError(f"{path}: field id: {task.id!r} is not the file's id")
            out.append((domain, path, task))
    return out
