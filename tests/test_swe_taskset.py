"""The task-set builder's parts: block mutations and combined bugs (the change they make and
nothing else), separating the failing tests from the fix (test_patch), records checked by
running their tests the way the grader does, statements that never quote the patch, the
expert on multi-hunk instances, resuming an interrupted build, and the sample of problem
statements written by the local LLM."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lbi_icl.envs import make_env
from lbi_icl.envs.swe.expert import parse_hunks
from lbi_icl.envs.swe.records import SWEInstance
from lbi_icl.envs.swe.taskset import project as project_mod
from lbi_icl.envs.swe.taskset.build import BuildConfig, build_taskset
from lbi_icl.envs.swe.taskset.combine import Bug, combine
from lbi_icl.envs.swe.taskset.mutate import BLOCK_KINDS, find_mutations
from lbi_icl.envs.swe.taskset.testsplit import NotSeparable, remove_tests, split_tests

pytestmark = pytest.mark.swe

FIXTURE = Path(__file__).parent / "fixtures" / "swe_project"
SAMPLE = Path(__file__).parent / "fixtures" / "swe_statements" / "llm_sample.json"

SOURCE = '''\
def g(xs, mode):
    """Docstring."""
    out = []
    total = 0
    for x in xs:
        if x > 0:
            out.append(x)
        elif x == 0:  # zero
            total += 1
        else:
            total -= 1
    try:
        v = int(mode)
        w = v + 1
    except ValueError:
        v = w = 0
    try:
        z = 1 / v
    except ZeroDivisionError:
        z = 0
    except TypeError:
        z = -1
    return out, total, w, z


def h(a):
    b = a * 2
    return b + 1
'''


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _removed(kind: str, first: int, last: int) -> None:
    """The mutation of `kind` that starts at `first` removes lines first..last, nothing else."""
    (m,) = [m for m in find_mutations("m.py", SOURCE) if m.kind == kind and m.line == first]
    lines = _lines(SOURCE)
    assert m.mutated == "".join(lines[: first - 1] + lines[last:])
    ast.parse(m.mutated)


def test_block_kinds_remove_exactly_their_lines():
    _removed("drop_statements", 3, 4)  # out = []; total = 0
    _removed("drop_loop", 5, 11)
    _removed("drop_elif", 8, 9)  # the elif clause and its body, the else stays
    _removed("drop_else", 10, 11)
    _removed("drop_except", 19, 20)
    _removed("drop_except", 21, 22)
    kinds = {m.kind for m in find_mutations("m.py", SOURCE)}
    assert set(BLOCK_KINDS) - {"drop_branch"} <= kinds


def test_unwrap_try_dedents_the_body_and_keeps_the_rest():
    (m,) = [m for m in find_mutations("m.py", SOURCE) if m.kind == "unwrap_try"]
    lines = _lines(SOURCE)
    assert m.line == 12
    kept = ["    v = int(mode)\n", "    w = v + 1\n"]
    assert m.mutated == "".join(lines[:11] + kept + lines[16:])
    # a body whose dedent would change a string's text is left alone
    tricky = (
        'def f():\n    try:\n        s = """a\n    b"""\n    except KeyError:\n'
        '        s = ""\n    return s\n'
    )
    assert not [m for m in find_mutations("t.py", tricky) if m.kind == "unwrap_try"]


def test_every_mutation_replaces_one_span_only():
    data = SOURCE.encode()
    for m in find_mutations("m.py", SOURCE):
        assert m.mutated.encode() == data[: m.start] + m.new.encode() + data[m.end :]
        assert m.parses()
    # outside functions nothing is mutated; a filter keeps only the functions asked for
    assert find_mutations("m.py", "X = 1 + 2\n") == []
    only_h = find_mutations("m.py", SOURCE, keep=lambda fn: fn == "h")
    assert only_h and {m.function for m in only_h} == {"h"}


def test_combined_bug_is_several_hunks_and_nothing_else():
    muts = find_mutations("m.py", SOURCE)
    in_g = next(m for m in muts if m.function == "g" and m.kind == "drop_else")
    in_h = next(m for m in muts if m.function == "h" and m.kind == "binop_swap")  # b + 1
    other = find_mutations("n.py", "def k(x):\n    return x - 1\n")[0]
    bug = Bug((in_g, in_h, other))
    files = bug.files()
    assert sorted(files) == ["m.py", "n.py"] and bug.kind == "combined"
    lines = _lines(SOURCE)
    want = lines[:9] + lines[11:27] + ["    return b - 1\n"]
    assert files["m.py"] == "".join(want)
    assert files["n.py"] == other.mutated
    assert [d["kind"] for d in bug.describe()] == ["drop_else", "binop_swap", other.kind]
    assert len(bug.key) == 10 and bug.key != in_g.key
    # combine: distinct functions, no single used twice, same-file groups first
    import random

    bugs = combine([in_g, in_h, other], random.Random(0), 5)
    assert bugs and all(len({m.function for m in b.parts}) == len(b.parts) for b in bugs)
    used = [m.key for b in bugs for m in b.parts]
    assert len(used) == len(set(used))
    same = [m for m in muts if m.function == "g"][:2]
    assert combine(same, random.Random(0), 5) == []  # one function: no combination


TESTS = """\
import unittest

import pytest


def helper():
    return 1


class ATest(unittest.TestCase):
    def test_one(self):
        self.assertEqual(helper(), 1)

    # a comment about two
    @pytest.mark.skipif(False, reason="x")
    def test_two(self):
        self.assertTrue(True)


class BTest(unittest.TestCase):
    def test_three(self):
        pass


@pytest.mark.parametrize("x", [1, 2])
def test_four(x):
    assert x


def test_five():
    assert helper()
"""


def test_remove_tests_takes_whole_definitions_and_keeps_the_rest():
    out = remove_tests(
        TESTS, "t/test_x.py", ["t/test_x.py::ATest::test_two", "t/test_x.py::test_four[2]"]
    )
    assert out is not None
    assert "test_two" not in out and "a comment about two" not in out and "skipif" not in out
    assert "parametrize" not in out and "test_four" not in out
    lines = _lines(TESTS)
    # everything else, byte for byte (the blank lines before each removed block went too)
    assert out == "".join(lines[:12] + lines[17:22] + lines[27:])
    # a class left empty goes; the file keeps its other tests
    out = remove_tests(TESTS, "t/test_x.py", ["t/test_x.py::BTest::test_three"])
    assert out is not None and "BTest" not in out and "class ATest" in out
    ast.parse(out)
    # no test left: the test file is deleted at the buggy commit
    every = ["ATest::test_one", "ATest::test_two", "BTest::test_three", "test_four[1]", "test_five"]
    assert remove_tests(TESTS, "t/test_x.py", [f"t/test_x.py::{n}" for n in every]) is None
    with pytest.raises(NotSeparable, match="not defined in this file"):
        remove_tests("class T(Mixin):\n    pass\n", "t/test_y.py", ["t/test_y.py::T::test_z"])
    with pytest.raises(NotSeparable, match="not a test file"):
        split_tests({}, ["t/test_q.py::test_a"])


def test_a_mixin_test_in_the_same_file_is_removed_where_it_is_defined():
    text = (
        "import unittest\n\n\nclass Mixin:\n    def test_a(self):\n        pass\n\n"
        "    def test_b(self):\n        pass\n\n\nclass T(unittest.TestCase, Mixin):\n"
        "    def test_c(self):\n        pass\n"
    )
    out = remove_tests(text, "t/test_m.py", ["t/test_m.py::T::test_a"])
    assert out is not None and "test_a" not in out and "def test_b" in out and "Mixin" in out
    with pytest.raises(NotSeparable, match="Mixin would be emptied but is used"):
        remove_tests(text, "t/test_m.py", ["t/test_m.py::T::test_a", "t/test_m.py::T::test_b"])


def test_fork_server_runs_pytest_and_limits_cpu_not_wall_time(tmp_path):
    """A fork-server run reports pytest's outcomes like a fresh process; a test that spins
    is stopped by its CPU-time limit, which a busy machine does not reach sooner."""
    import time

    from lbi_icl.envs.swe.taskset.runner import TestRunner
    from lbi_icl.envs.swe.workspace import ensure_venv, shell_environment

    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_a.py").write_text(
        "def test_ok():\n    assert 1\n\n\ndef test_bad():\n    assert 0, 'nope'\n"
    )
    (tmp_path / "t" / "test_spin.py").write_text(
        "def test_spin():\n    while True:\n        pass\n"
    )
    venv = ensure_venv(tmp_path / "cache", "x")
    env = shell_environment(venv, [str(tmp_path)], tmp_path / "home")
    runner = TestRunner(1, "fork")
    try:
        run = runner.run(tmp_path, ["t/test_a.py"], env, timeout_s=60, cpu_limit_s=10)
        fresh = runner.run(tmp_path, ["t/test_a.py"], env, timeout_s=60, fresh=True)
        start = time.perf_counter()
        spin = runner.run(tmp_path, ["t/test_spin.py"], env, timeout_s=300, cpu_limit_s=1)
        wall = time.perf_counter() - start
    finally:
        runner.close()
    assert (
        run.outcomes
        == fresh.outcomes
        == {"t/test_a.py::test_ok": "passed", "t/test_a.py::test_bad": "failed"}
    )
    assert "nope" in run.messages["t/test_a.py::test_bad"] and run.cpu_seconds > 0
    assert spin.timed_out and spin.exit_code == 124 and spin.cpu_seconds > 0.5 and wall < 120


# -- the builder on the fixture project (both test files) ---------------------------------


def _spec(folder: Path, name: str = "calc") -> Path:
    spec = {
        "projects": [
            {
                "name": name,
                "path": str(FIXTURE),
                "split": "train",
                "sources": ["minicalc"],
                "tests": ["tests/check_core.py", "tests/check_text.py"],
                "docs": ["README.md"],
            }
        ]
    }
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def _config(root: Path, out: str = "tasks", **kw: object) -> BuildConfig:
    cfg = {
        "out": root / out,
        "spec": _spec(root),
        "seed": 1,
        "per_project": 10,
        "max_candidates": 40,
        "combined": 0.3,
        "workers": 2,
        "cache_dir": root / "cache",
        **kw,
    }
    return BuildConfig.model_validate(cfg)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("taskset")
    report = build_taskset(_config(root))
    assert report.counts["train"] == 10, report
    return root / "tasks"


def _records(tasks: Path) -> list[dict]:
    return [json.loads(x) for x in (tasks / "train.jsonl").read_text().splitlines()]


def _git(repo: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=input, capture_output=True, text=True, check=True
    ).stdout


def _pytest(clone: Path, tests: list[str]) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", *tests],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(clone), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR"):
            out[rest.split(" - ")[0]] = word
    return out


@pytest.mark.slow
def test_records_separate_the_failing_tests_and_grade_like_swebench(built, tmp_path):
    records = _records(built)
    kinds = {r["mutation"]["kind"] for r in records}
    assert "combined" in kinds and kinds & set(BLOCK_KINDS)
    report = json.loads((built / "build_report.json").read_text())
    assert sum(report["kinds"].values()) == 10 and report["kinds"].get("combined", 0) == 3
    for r in records:
        repo = built / r["mirror"]
        f2p, p2p = r["FAIL_TO_PASS"], r["PASS_TO_PASS"]
        assert r["test_patch"] and all(f.startswith("minicalc/") for f in _files(r["patch"]))
        assert all(f.startswith("tests/") for f in _files(r["test_patch"]))
        if r["mutation"]["kind"] == "combined":
            assert len(r["mutations"]) >= 2 and len(parse_hunks(r["patch"])) >= 2
        clone = tmp_path / r["instance_id"]
        subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
        _git(clone, "checkout", "-q", r["base_commit"])
        # at the buggy commit the failing tests are not there at all
        for node in f2p:
            file, name = node.split("::")[0], node.split("::")[-1].split("[")[0]
            text = (clone / file).read_text() if (clone / file).exists() else ""
            assert f"def {name}(" not in text
        # base + test_patch: FAIL_TO_PASS fail, PASS_TO_PASS pass
        _git(clone, "apply", "-", input=r["test_patch"])
        got = _pytest(clone, sorted({n.split("::")[0] for n in f2p + p2p}))
        assert all(got.get(n) != "PASSED" for n in f2p), (r["instance_id"], got)
        assert all(got.get(n) == "PASSED" for n in p2p), (r["instance_id"], got)
        # + patch: all pass
        _git(clone, "apply", "-", input=r["patch"])
        got = _pytest(clone, sorted({n.split("::")[0] for n in f2p + p2p}))
        assert all(got.get(n) == "PASSED" for n in f2p + p2p), (r["instance_id"], got)
        # the statement comes from the tests, never from the patch
        assert not _quoted(r["patch"], r["problem_statement"]), r["instance_id"]


def _files(patch: str) -> list[str]:
    return [line[6:] for line in patch.splitlines() if line.startswith("+++ b/")]


def _quoted(patch: str, statement: str) -> list[str]:
    """Changed lines of the patch (longer than a few characters) that the statement holds."""
    changed = [
        line[1:].strip()
        for line in patch.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return [x for x in changed if len(x) >= 12 and x in statement]


@pytest.mark.slow
def test_the_expert_resolves_every_instance_including_multi_hunk_ones(built):
    env = make_env("swe", tasks_file=str(built), cache_dir=str(built.parent / "cache"))
    try:
        tasks = env.tasks("train")
        for task in tasks:
            demo = env.demonstrate(task)
            assert demo is not None and demo.outcome == "success", task.id
            rec = SWEInstance.model_validate(
                next(r for r in _records(built) if r["instance_id"] == task.id)
            )
            edits = [a for a in demo.actions() if a.startswith("python3 -c")]
            assert len(edits) == len(parse_hunks(rec.patch))  # one edit per hunk
    finally:
        env.close()


@pytest.mark.slow
def test_an_interrupted_build_resumes_from_its_cache(built, tmp_path, monkeypatch):
    calls: list[str] = []
    real = project_mod.ProjectBuild.evaluate

    class Stopped(Exception):
        pass

    def flaky(self, c, base):
        calls.append(c.key)
        if len(calls) == 5 and not stopped:
            stopped.append(c.key)
            raise Stopped  # the build is stopped mid-way
        return real(self, c, base)

    stopped: list[str] = []
    monkeypatch.setattr(project_mod.ProjectBuild, "evaluate", flaky)
    cfg = _config(tmp_path, workers=1)
    with pytest.raises(Stopped):
        build_taskset(cfg)
    cached = (tmp_path / "tasks" / ".cache" / "calc" / "results.jsonl").read_text().splitlines()
    assert len(cached) == 4
    calls.clear()
    build_taskset(cfg)
    assert not {json.loads(x)["key"] for x in cached} & set(calls)  # not run again
    # the resumed build wrote what an uninterrupted one (other workers) wrote
    assert (tmp_path / "tasks" / "train.jsonl").read_bytes() == (built / "train.jsonl").read_bytes()


def test_llm_statement_sample_matches_its_records():
    """A few test-split statements written by the local model (named in the file), kept
    with their records' failing tests, failure messages and patch: each statement names
    the failing behaviour (a failing test, what it tests, or its failure message) and none
    quotes the patch."""
    sample = json.loads(SAMPLE.read_text())
    assert sample["model"] and sample["spec"] and 1 <= len(sample["records"]) <= 5
    for r in sample["records"]:
        text = r["problem_statement"].lower()
        assert r["statement_writer"] == f"llm:{sample['spec']}"
        assert not _quoted(r["patch"], r["problem_statement"]), r["instance_id"]
        names = set()
        for node in r["FAIL_TO_PASS"]:
            name = node.split("::")[-1].split("[")[0]
            names |= {name, name.removeprefix("test_").replace("_", " ")}
        messages = [m.lower() for m in r["messages"].values()]
        fragments = [m[i : i + 16] for m in messages for i in range(0, max(len(m) - 15, 1), 4)]
        mentioned = any(n.lower() in text for n in names) or any(
            len(f) >= 12 and f in text for f in fragments
        )
        assert mentioned, r["instance_id"]
