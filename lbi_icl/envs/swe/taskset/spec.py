"""The task-set spec: which projects, pinned by version and sha256, and how to read them.

The packaged `projects.json` lists real PyPI projects, each with its upstream GitHub
repository (`github`, what the records' `repo` names); a spec may instead name a local
folder (`path`, relative to the spec file) — the tests use a small fixture project that way.
Sdists are fetched with pip (`pip download --no-deps --no-binary :all:`) into a cache and
checked against the pinned sha256 before anything is extracted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PACKAGED_SPEC = Path(__file__).with_name("projects.json")


class SpecError(ValueError):
    """The spec is malformed, a download failed, or a checksum did not match."""


class ProjectSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    path: str | None = None  # a local folder instead of a PyPI sdist
    # upstream repository (GitHub owner/name): the records' `repo` ("local/NAME" for `path`)
    github: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    split: Literal["train", "test"]
    sources: list[str] = Field(min_length=1, description="package folders/files to mutate")
    tests: list[str] = Field(min_length=1, description="test folders/files")
    docs: list[str] = Field(default_factory=list, description="README files, docs folders")
    exclude_tests: list[str] = Field(default_factory=list, description="test files to skip")

    @model_validator(mode="after")
    def _where(self) -> ProjectSpec:
        if self.path is None and (
            self.version is None or self.sha256 is None or self.github is None
        ):
            raise ValueError("a PyPI project needs version, sha256 and github (or give path)")
        return self


class TaskSetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    projects: list[ProjectSpec] = Field(min_length=1)


def load_spec(path: Path | None = None) -> tuple[TaskSetSpec, Path]:
    path = path or PACKAGED_SPEC
    try:
        spec = TaskSetSpec.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, ValidationError) as e:
        raise SpecError(f"{path}: bad task-set spec: {e}") from e
    names = [p.name for p in spec.projects]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SpecError(f"{path}: duplicate project names {dupes}")
    return spec, path.parent


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_sdist(project: ProjectSpec, cache: Path) -> Path:
    """The pinned sdist, downloaded through pip once and verified every time."""
    assert project.version is not None and project.sha256 is not None
    cache.mkdir(parents=True, exist_ok=True)
    prefixes = {project.name.lower(), project.name.lower().replace("-", "_")}

    def existing() -> Path | None:
        for f in sorted(cache.iterdir()):
            stem = f.name.lower()
            if any(stem.startswith(f"{p}-{project.version}.") for p in prefixes):
                return f
        return None

    found = existing()
    if found is None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--quiet",
            f"{project.name}=={project.version}",
            "-d",
            str(cache),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = existing()
        if proc.returncode != 0 or found is None:
            raise SpecError(
                f"{project.name}=={project.version}: pip download failed: "
                f"{(proc.stderr or proc.stdout).strip()[-800:]}"
            )
    digest = sha256_file(found)
    if digest != project.sha256:
        raise SpecError(
            f"{found}: sha256 {digest} does not match the pinned {project.sha256} for "
            f"{project.name}=={project.version}"
        )
    return found


def _safe_parts(name: str) -> tuple[str, ...] | None:
    parts = PurePosixPath(name).parts
    if not parts or parts[0] in ("/", "..") or ".." in parts:
        return None
    return parts[1:]  # drop the top-level "<name>-<version>/" folder


def extract_sdist(archive: Path, dest: Path) -> None:
    """Regular files only, mode 0644, paths checked: the tree depends on the bytes alone."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                parts = _safe_parts(info.filename)
                if not parts or info.is_dir():
                    continue
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
        return
    with tarfile.open(archive) as tf:
        for member in sorted(tf.getmembers(), key=lambda m: m.name):
            parts = _safe_parts(member.name)
            if not parts or not member.isfile():
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            fh = tf.extractfile(member)
            assert fh is not None
            target.write_bytes(fh.read())
            target.chmod(0o644)


def copy_local(src: Path, dest: Path) -> None:
    if not src.is_dir():
        raise SpecError(f"{src}: project folder not found")
    shutil.copytree(
        src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git")
    )
    for f in dest.rglob("*"):
        if f.is_file():
            f.chmod(0o644)
