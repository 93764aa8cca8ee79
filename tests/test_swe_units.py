"""The swe environment's parts that need no repository: shell runner, mutations, records,
pytest output parsing, the expert's patch reading and the offline relabeler."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import time

import pytest

from lbi_icl.data import Step, Trajectory
from lbi_icl.envs.swe.expert import edit_command, parse_hunks
from lbi_icl.envs.swe.grading import parse_pytest
from lbi_icl.envs.swe.records import TaskRecordError, load_records
from lbi_icl.envs.swe.shell import cap_output, run_shell
from lbi_icl.envs.swe.taskset.mutate import LINE_KINDS, find_mutations
from lbi_icl.synth.relabel_swe import SWETemplateRelabeler

pytestmark = pytest.mark.swe


def _env(home) -> dict[str, str]:
    """A login shell with an empty HOME (as in a workspace): the user's profile is not read."""
    return {**os.environ, "HOME": str(home)}


def test_shell_exit_code_output_and_cwd(tmp_path):
    (tmp_path / "f.txt").write_text("hello\n")
    res = run_shell("cat f.txt; echo err >&2; exit 3", tmp_path, env=_env(tmp_path))
    assert res.exit_code == 3
    assert "hello" in res.output and "err" in res.output
    assert not res.timed_out and res.cut_bytes == 0


def test_shell_timeout_kills_the_whole_group(tmp_path):
    marker = tmp_path / "alive"
    # a child that would write the marker after the timeout, if it survived
    cmd = f"(sleep 3 && touch {marker}) & sleep 30"
    start = time.perf_counter()
    res = run_shell(cmd, tmp_path, timeout_s=1.0, env=_env(tmp_path))
    assert res.timed_out and res.exit_code == 124
    assert time.perf_counter() - start < 10
    assert "timed out" in res.output
    time.sleep(3.5)
    assert not marker.exists()


def test_shell_background_job_does_not_hold_the_step(tmp_path):
    start = time.perf_counter()
    res = run_shell("sleep 30 & echo started", tmp_path, timeout_s=20, env=_env(tmp_path))
    assert res.exit_code == 0 and "started" in res.output
    assert time.perf_counter() - start < 10


def test_shell_output_cap_keeps_head_and_tail(tmp_path):
    res = run_shell("seq 1 100000", tmp_path, output_cap=2000, env=_env(tmp_path))
    lines = res.output.splitlines()
    assert lines[0] == "1" and lines[-1] == "100000"
    total = len("\n".join(str(i) for i in range(1, 100001)) + "\n")
    assert res.cut_bytes == total - 2000
    assert f"[... {res.cut_bytes} bytes cut ...]" in res.output
    text, cut = cap_output("a" * 50 + "b" * 50, 20)
    assert text.startswith("a" * 10) and text.endswith("b" * 10) and cut == 80


SOURCE = """
def f(xs, n=2, flag=True):
    total = 0
    for i in range(1, n):
        if xs[i] < 3 and flag:
            total = total + xs[i]
        if not xs:
            return False
    return total % 7 == 0
"""


def test_mutations_cover_the_kinds_and_change_one_span():
    muts = find_mutations("m.py", SOURCE)
    kinds = {m.kind for m in muts}
    assert set(LINE_KINDS) | {"drop_branch", "drop_loop"} <= kinds
    for m in muts:
        ast.parse(m.mutated)
        assert m.mutated != SOURCE and m.function == "f"
        # one span replaced, the rest byte for byte
        data, new = SOURCE.encode(), m.mutated.encode()
        assert new == data[: m.start] + m.new.encode() + data[m.end :]
        changed = [
            (a, b)
            for a, b in zip(SOURCE.splitlines(), m.mutated.splitlines(), strict=False)
            if a != b
        ]
        if m.kind in LINE_KINDS:
            assert len(changed) == 1 and len(m.mutated.splitlines()) == len(SOURCE.splitlines())
    swap = next(m for m in muts if m.kind == "compare_swap" and "<=" in m.mutated)
    assert "if xs[i] <= 3 and flag:" in swap.mutated
    loop = next(m for m in muts if m.kind == "drop_loop")
    assert "for i in" not in loop.mutated and "    return total % 7 == 0" in loop.mutated
    assert len({m.key for m in muts}) == len(muts)
    assert find_mutations("m.py", SOURCE) == muts  # deterministic


def test_parse_pytest_summary_lines():
    out = "\n".join(
        [
            "PASSED tests/t.py::test_a",
            "FAILED tests/t.py::test_b - AssertionError: assert 1 == 2",
            "PASSED tests/t.py::test_c[x - y]",
            "ERROR tests/t.py::test_d - fixture missing",
            "PASSED tests/t.py::test_e",
            "ERROR tests/t.py::test_e - teardown failed",
        ]
    )
    outcomes, messages = parse_pytest(out)
    assert outcomes["tests/t.py::test_a"] == "passed"
    assert outcomes["tests/t.py::test_b"] == "failed"
    assert messages["tests/t.py::test_b"] == "AssertionError: assert 1 == 2"
    assert outcomes["tests/t.py::test_d"] == "error"
    assert outcomes["tests/t.py::test_e"] == "error"  # a failed teardown is a failure


def _record(**kw):
    rec = {
        "instance_id": "o__r-1",
        "repo": "o/r",
        "base_commit": "abc1234",
        "problem_statement": "p",
        "patch": "",
        "FAIL_TO_PASS": ["t.py::test_a"],
    }
    rec.update(kw)
    return rec


def test_load_records_errors_name_the_instance(tmp_path):
    path = tmp_path / "t.jsonl"
    bad = _record(instance_id="o__r-2")
    del bad["base_commit"]
    path.write_text(json.dumps(_record()) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(TaskRecordError, match=r"t.jsonl:2: instance o__r-2: base_commit"):
        load_records(path)
    path.write_text(json.dumps(_record(FAIL_TO_PASS="[]")) + "\n")
    with pytest.raises(TaskRecordError, match="o__r-1: FAIL_TO_PASS"):
        load_records(path)
    # the published dataset encodes the test lists as JSON strings
    path.write_text(json.dumps(_record(FAIL_TO_PASS='["t.py::test_b"]', extra="kept")) + "\n")
    (rec,) = load_records(path)
    assert rec.FAIL_TO_PASS == ["t.py::test_b"] and rec.test_files() == ["t.py"]
    path.write_text(json.dumps(_record()) + "\n" + json.dumps(_record()) + "\n")
    with pytest.raises(TaskRecordError, match="duplicate of line 1"):
        load_records(path)


PATCH = (
    "diff --git a/pkg/m.py b/pkg/m.py\n"
    "--- a/pkg/m.py\n"
    "+++ b/pkg/m.py\n"
    "@@ -1,4 +1,4 @@ def f(x):\n"
    " def f(x):\n"
    "-    return x - 1\n"
    "+    return x + 1\n"
    " \n"
)


def test_expert_edit_command_applies_the_hunk(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f(x):\n    return x - 1\n\n")
    (hunk,) = parse_hunks(PATCH)
    assert hunk.file == "pkg/m.py" and hunk.start == 1 and "def f" in hunk.context
    res = run_shell(edit_command(hunk), tmp_path, env=_env(tmp_path))
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pkg" / "m.py").read_text() == "def f(x):\n    return x + 1\n\n"
    again = run_shell(edit_command(hunk), tmp_path, env=_env(tmp_path))  # the old text is gone now
    assert again.exit_code != 0 and "the text to replace is not there" in again.output


def test_expert_edit_command_picks_the_occurrence_nearest_its_line(tmp_path):
    """The same text twice in a file: the edit changes the copy at the hunk's line."""
    block = "def f(x):\n    return x - 1\n\n"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(block + "# two\n" + block)
    (hunk,) = parse_hunks(PATCH.replace("@@ -1,4 +1,4 @@", "@@ -5,4 +5,4 @@"))
    res = run_shell(edit_command(hunk), tmp_path, env=_env(tmp_path))
    assert res.exit_code == 0, res.output
    fixed = block.replace("x - 1", "x + 1")
    assert (tmp_path / "pkg" / "m.py").read_text() == block + "# two\n" + fixed


def test_relabeler_reads_the_expert_commands():
    steps = [
        Step(observation="o0", action="python -m pytest -q -x tests/t.py::test_a"),
        Step(observation="exit code 1\nF", action="grep -rn 'def f' --include='*.py' ."),
        Step(observation="exit code 0\npkg/m.py:1", action="sed -n '1,9p' pkg/m.py"),
        Step(observation="exit code 0\n...", action="ls"),
    ]
    traj = Trajectory(id="t", env="swe", instruction="fix", steps=steps, final_observation="x")
    out = SWETemplateRelabeler().relabel(traj, 0, 3)
    abstract = next(w for w in out if w.kind == "abstract")
    assert abstract.instruction == (
        "Run `tests/t.py::test_a` and see it fail, find where `f` is defined, and read "
        "lines 1-9 of pkg/m.py."
    )
    summarize = next(w for w in out if w.kind == "summarize")
    assert "ran `ls`" not in summarize.instruction and "(exit code 1)" in summarize.instruction
    only_ls = SWETemplateRelabeler().relabel(traj, 3, 4)
    assert [w.kind for w in only_ls] == ["summarize"]


def test_relabeler_reads_a_multi_hunk_expert_demonstration():
    """The expert's own commands for a two-hunk patch (two edits, then the remaining test
    files run together) are read back clause by clause."""
    from lbi_icl.envs.swe.expert import expert_actions
    from lbi_icl.envs.swe.records import SWEInstance

    second = PATCH.replace("@@ -1,4 +1,4 @@ def f(x):", "@@ -20,4 +20,4 @@ def g(x):")
    second = second.replace("def f(x)", "def g(x)").split("@@ -20")[1]
    inst = SWEInstance(
        instance_id="o__r-1", repo="o/r", base_commit="abc1234", problem_statement="p",
        patch=PATCH + "@@ -20" + second, FAIL_TO_PASS=["tests/a.py::test_f"],
        PASS_TO_PASS=["tests/a.py::test_x", "tests/b.py::test_y"],
        mutations=[
            {"kind": "binop_swap", "file": "pkg/m.py", "function": "f", "line": 2},
            {"kind": "binop_swap", "file": "pkg/m.py", "function": "g", "line": 21},
        ],
    )  # fmt: skip
    actions = expert_actions(inst)
    assert actions[0] == "grep -rn 'def f' --include='*.py' ."
    assert [a.split()[0] for a in actions] == [
        "grep", "sed", "grep", "sed", "python3", "python3", "python", "git", "submit",
    ]  # fmt: skip
    assert actions[-3] == "python -m pytest -q tests/a.py tests/b.py"
    obs = ["exit code 0\nok"] * len(actions)
    steps = [Step(observation=o, action=a) for o, a in zip(["start", *obs], actions, strict=False)]
    traj = Trajectory(id="t", env="swe", instruction="fix", steps=steps, final_observation="x")
    (abstract, _) = SWETemplateRelabeler().relabel(traj, 4, 8)
    assert abstract.instruction == (
        "Edit pkg/m.py, run `tests/a.py` and `tests/b.py` and see them pass, and review the "
        "changes with git diff."
    )


def test_validation_names_a_missing_repository(tmp_path):
    from lbi_icl.envs.swe.records import SWEInstance
    from lbi_icl.envs.swe.validate import validate_local

    rec = SWEInstance.model_validate(_record(repo="./repos/nowhere", instance_id="x__y-1"))
    with pytest.raises(TaskRecordError, match=r"instance x__y-1: repository './repos/nowhere'"):
        validate_local([rec], tmp_path)
    (tmp_path / "plain").mkdir()
    rec = SWEInstance.model_validate(_record(repo=str(tmp_path / "plain")))
    with pytest.raises(TaskRecordError, match="not a git repository"):
        validate_local([rec], tmp_path)


TEST_FILE = """import pytest
from calc import clamp, mean


def helper():
    return 1


@pytest.mark.parametrize("x", [1, 2])
def test_a(x):
    assert clamp(x, 0, 1) == min(x, 1)


def test_b():
    assert mean([1, 3]) == 2
"""


def test_llm_problem_statement_sees_the_failing_tests_only(monkeypatch):
    from llm_servers import OpenAIStubServer, clear_llm_env

    from lbi_icl.envs.swe.taskset.statement import llm_statement
    from lbi_icl.llm import make_llm

    clear_llm_env(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")
    failing = ["tests/t.py::test_a[2]", "tests/t.py::test_b"]
    messages = {"tests/t.py::test_a[2]": "AssertionError: assert 1 == 2"}
    answer = "```\nclamp ignores its bounds\n\nThe tests fail.\n```"
    with OpenAIStubServer([answer]) as srv:
        llm = make_llm("openai:gpt-4o-mini", base_url=srv.base_url)
        text = llm_statement(llm, "calc", failing, messages, test_texts={"tests/t.py": TEST_FILE})
        (req,) = srv.requests
    assert text == "clamp ignores its bounds\n\nThe tests fail.\n"  # the fence is dropped
    prompt = req["messages"][1]["content"]
    assert "tests/t.py::test_a[2]" in prompt and "assert 1 == 2" in prompt
    # the failing tests' source, with the imports they use, and nothing else of the file
    assert "def test_a(x):" in prompt and "def test_b():" in prompt
    assert "from calc import clamp, mean" in prompt and "def helper" not in prompt


def test_offline_statement_reads_like_an_issue_with_a_reproduction():
    from lbi_icl.envs.swe.taskset.statement import offline_statement, reproduction

    failing = ["tests/t.py::test_a[2]", "tests/t.py::test_b"]
    messages = {"tests/t.py::test_a[2]": "AssertionError: assert 1 == 2"}
    text = offline_statement("calc", failing, messages, {"tests/t.py": TEST_FILE})
    assert text.startswith("calc: a no longer works\n\n")
    assert "2 tests in tests/t.py fail" in text
    assert "- `tests/t.py::test_a[2]`: AssertionError: assert 1 == 2" in text
    repro = reproduction(TEST_FILE, "tests/t.py::test_a[2]")
    assert repro == (
        "import pytest\nfrom calc import clamp, mean\n\n"
        '@pytest.mark.parametrize("x", [1, 2])\ndef test_a(x):\n'
        "    assert clamp(x, 0, 1) == min(x, 1)"
    )
    assert f"```python\n{repro}\n```" in text
    assert reproduction(TEST_FILE, "tests/t.py::test_missing") is None
    long = "def test_c():\n" + "".join(f"    assert {i}\n" for i in range(40))
    cut = reproduction(long, "t.py::test_c", max_lines=5)
    assert cut is not None and cut.splitlines()[-1] == "    ..." and len(cut.splitlines()) == 5
    # object addresses in messages change from run to run; the statement does not
    at = [{"tests/t.py::test_b": f"assert <X object at {a}> == 1"} for a in ("0x7f01", "0x7fab")]
    at = [{n: m.replace("0x7f", "0x7f0000") for n, m in x.items()} for x in at]
    one, two = (offline_statement("calc", failing, m) for m in at)
    assert one == two and "<X object at 0x...> == 1" in one
    # without the tests' source there is no reproduction, the rest is the same
    bare = offline_statement("calc", failing, messages)
    assert "```" not in bare and "2 tests in tests/t.py fail" in bare


def test_shell_actions_keep_their_final_path_argument():
    from lbi_icl.agent.parse import parse_action

    for cmd in ("grep -rn 'def f' --include='*.py' .", "cd ..", "ls src/*", "ls tests/"):
        assert parse_action(f"Reason: look.\nAction: {cmd}").action == cmd
    assert parse_action("Action: **go forward.**").action == "go forward"


def test_local_workspace_cannot_reach_the_fix(tmp_path):
    """The source repository holds the fix commit; the agent's workspace holds only the
    base commit's objects (no alternates into the source), so `git cat-file` cannot read
    the fixed file."""
    from lbi_icl.envs.swe.records import SWEInstance
    from lbi_icl.envs.swe.workspace import Workspace, git

    src = tmp_path / "src"
    src.mkdir()
    git(tmp_path, "init", "--quiet", str(src))
    git(src, "config", "user.name", "t")
    git(src, "config", "user.email", "t@t.invalid")
    (src / "m.py").write_text("def f(x):\n    return x - 1\n")
    git(src, "add", "-A")
    git(src, "commit", "--quiet", "-m", "base")
    base = git(src, "rev-parse", "HEAD").strip()
    (src / "m.py").write_text("def f(x):\n    return x + 1  # the fix\n")
    git(src, "commit", "--quiet", "-am", "fix")
    fix = git(src, "rev-parse", "HEAD").strip()
    fixed_blob = git(src, "rev-parse", f"{fix}:m.py").strip()
    inst = SWEInstance(
        instance_id="t-1", repo=str(src), base_commit=base, problem_statement="p", patch="",
        FAIL_TO_PASS=["t.py::test"],
    )  # fmt: skip
    ws = Workspace(inst, str(src), cache_dir=tmp_path / "cache").setup()
    try:
        assert (ws.path / "m.py").read_text() == "def f(x):\n    return x - 1\n"
        assert git(ws.path, "rev-parse", "HEAD").strip() == base
        assert not (ws.path / ".git" / "objects" / "info" / "alternates").exists()
        for obj in (fix, fixed_blob):
            proc = subprocess.run(["git", "cat-file", "-e", obj], cwd=ws.path, check=False)
            assert proc.returncode != 0, obj
        assert git(ws.path, "log", "--format=%H").split() == [base]
        (ws.path / "m.py").write_text("changed\n")
        assert "+changed" in ws.diff()
    finally:
        ws.close()
