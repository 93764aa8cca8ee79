"""Check task records against their repositories before any episode: the repository is
there, `base_commit` is a commit of it, every test file exists at `base_commit` (or comes
with `test_patch`) and every test function is defined; `lbi swe check` also checks that the
gold patch and the test patch apply and that remote repositories answer. Each problem names
the instance and what is wrong."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel

from lbi_icl.envs.swe.patches import patch_files
from lbi_icl.envs.swe.records import (
    SWEInstance,
    TaskRecordError,
    is_remote,
    local_path,
    resolve_repo,
)

REMOTE_TIMEOUT_S = 30.0


class RecordProblem(BaseModel):
    instance_id: str
    problem: str

    def __str__(self) -> str:
        return f"instance {self.instance_id}: {self.problem}"


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


def _remote_problem(source: str) -> str | None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(
            ["git", "ls-remote", "--exit-code", "-q", source, "HEAD"],
            capture_output=True,
            text=True,
            timeout=REMOTE_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"cannot reach {source} (no answer in {REMOTE_TIMEOUT_S:g} s)"
    if proc.returncode not in (0, 2):  # 2: reachable, no HEAD
        return f"cannot reach {source} ({' '.join(proc.stderr.split())[:200]})"
    return None


def check_records(
    records: list[SWEInstance],
    base_dir: Path | None,
    repo_map: dict[str, str] | None = None,
    *,
    deep: bool = False,
) -> list[RecordProblem]:
    """Every record's first problem (records without problems are not listed). `deep`
    also reaches remote repositories and checks that the patches apply."""
    problems: list[RecordProblem] = []
    by_repo: dict[str, list[SWEInstance]] = {}
    reached: dict[str, str | None] = {}
    for rec in records:
        src = resolve_repo(rec, base_dir, repo_map)
        mapped = repo_map is not None and rec.repo in repo_map
        if rec.mirror and not mapped and local_path(rec.mirror, base_dir) is None:
            problems.append(RecordProblem(
                instance_id=rec.instance_id,
                problem=f"mirror {rec.mirror!r} not found (looked in {base_dir}); give one "
                "with --env-option repo_map=FILE",
            ))  # fmt: skip
            continue
        if is_remote(src):
            if deep:
                if src not in reached:
                    reached[src] = _remote_problem(src)
                if reached[src] is not None:
                    problems.append(RecordProblem(
                        instance_id=rec.instance_id,
                        problem=f"{reached[src]}; give a local mirror of {rec.repo} with "
                        "--env-option repo_map=FILE",
                    ))  # fmt: skip
            continue
        local = src.removeprefix("file://")
        if not Path(local).exists():
            problems.append(RecordProblem(
                instance_id=rec.instance_id,
                problem=f"repository {rec.repo!r} not found (looked for {local})",
            ))  # fmt: skip
            continue
        by_repo.setdefault(local, []).append(rec)
    for local, recs in by_repo.items():
        objects = _Objects(local)
        try:
            for rec in recs:
                try:
                    _check_record(objects, rec)
                    if deep:
                        _check_patches(local, rec)
                except TaskRecordError as e:
                    problem = str(e).removeprefix(f"instance {rec.instance_id}: ")
                    problems.append(RecordProblem(instance_id=rec.instance_id, problem=problem))
        finally:
            objects.close()
    order = {r.instance_id: i for i, r in enumerate(records)}
    return sorted(problems, key=lambda p: order[p.instance_id])


def validate_local(
    records: list[SWEInstance], base_dir: Path | None, repo_map: dict[str, str] | None = None
) -> None:
    """`check_records` (without reaching remote repositories) as an exception: raises
    `TaskRecordError` naming the first bad instance and how many more there are."""
    problems = check_records(records, base_dir, repo_map)
    if problems:
        more = len(problems) - 1
        tail = f" (and {more} more bad records; `lbi swe check` lists them)" if more else ""
        raise TaskRecordError(f"{problems[0]}{tail}")


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


def _check_patches(repo: str, rec: SWEInstance) -> None:
    """The gold patch and the test patch apply to `base_commit` (checked in a throw-away
    index: nothing in the repository changes)."""
    with tempfile.TemporaryDirectory(prefix="lbi-check-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git = ["git", "-C", repo]
        subprocess.run([*git, "read-tree", rec.base_commit], env=env, check=True)
        for what, patch in (("patch", rec.patch), ("test_patch", rec.test_patch)):
            if not patch.strip():
                continue
            proc = subprocess.run(
                [*git, "apply", "--cached", "--check", "-"],
                input=patch.encode("utf-8"),
                env=env,
                capture_output=True,
                check=False,
            )
            if proc.returncode != 0:
                why = " ".join(proc.stderr.decode(errors="replace").split())[:300]
                raise TaskRecordError(
                    f"instance {rec.instance_id}: {what} does not apply at "
                    f"{rec.base_commit[:12]}: {why}"
                )
