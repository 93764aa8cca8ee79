"""One verified candidate → one SWE-bench record (its problem statement comes later).

The buggy commit (`base_commit`) is the fixed tree with the bug's source changes and
without the failing tests (`testsplit`); it is a root commit with a neutral message,
tagged with the instance id. `patch` is the fix of the source files, `test_patch` puts the
failing tests back. Both are checked by tree identity: base + test_patch is exactly the
tree whose test run found the failing tests, and base + test_patch + patch is exactly the
fixed tree (where the instance's test files were run and pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lbi_icl.envs.swe.taskset import gitrepo
from lbi_icl.envs.swe.taskset.combine import Bug
from lbi_icl.envs.swe.taskset.spec import ProjectSpec
from lbi_icl.envs.swe.taskset.testsplit import split_tests


@dataclass
class Candidate:
    bug: Bug
    test_files: list[str]

    @property
    def key(self) -> str:
        return self.bug.key


@dataclass
class Draft:
    """A verified instance before its problem statement is written."""

    record: dict[str, Any]
    messages: dict[str, str]
    test_texts: dict[str, str]  # the failing tests' files where they pass


class BuiltProject(Protocol):
    """What `make_instance` reads of a project's build (`project.ProjectBuild`): typed by
    its members, so this module needs nothing above it."""

    p: ProjectSpec
    repo: Path
    repo_name: str
    id_prefix: str
    test_texts: dict[str, str]


def make_instance(pb: BuiltProject, c: Candidate, res: dict[str, Any], fix: str) -> Draft:
    bug = c.bug
    iid = f"{pb.id_prefix}-{bug.key}"
    f2p, p2p = res["fail_to_pass"], res["pass_to_pass"]
    sources = bug.files()
    tests = split_tests(pb.test_texts, f2p)
    version = pb.p.version or "local"
    base = gitrepo.commit_changes(
        pb.repo, fix, {**sources, **tests}, f"{pb.p.name} {version}", f"refs/tags/{iid}"
    )
    patch = gitrepo.diff(pb.repo, base, fix, sorted(sources))
    test_patch = gitrepo.diff(pb.repo, base, fix, sorted(tests))
    bug_tree = gitrepo.write_tree(pb.repo, fix, dict(sources))
    if gitrepo.apply_to_tree(pb.repo, base, test_patch) != bug_tree:
        raise RuntimeError(f"{iid}: base + test_patch is not the tree that was tested")
    if gitrepo.apply_to_tree(pb.repo, base, test_patch, patch) != gitrepo.tree_of(pb.repo, fix):
        raise RuntimeError(f"{iid}: base + test_patch + patch is not the fixed tree")
    first = bug.first
    n = len(bug.parts)
    record: dict[str, Any] = {
        "instance_id": iid,
        "repo": pb.repo_name,
        "mirror": f"repos/{pb.p.name}",
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": "",
        "FAIL_TO_PASS": f2p,
        "PASS_TO_PASS": p2p,
        "version": version,
        "environment_setup_commit": fix,
        "split": pb.p.split,
        "project": pb.p.name,
        "mutation": {
            "kind": bug.kind,
            "file": first.file,
            "function": first.function,
            "line": first.line,
            "description": first.description if n == 1 else f"{n} mutations combined",
        },
        "mutations": bug.describe(),
    }
    texts = {f: pb.test_texts[f] for f in dict.fromkeys(t.split("::", 1)[0] for t in f2p)}
    return Draft(record=record, messages=dict(res["messages"]), test_texts=texts)
