"""Run pytest on chosen test files and read per-test outcomes; grade a submission the way
SWE-bench does: the submitted diff is applied to a clean checkout of the base commit in a
new folder, the test files are reset to the base commit, the test patch is applied, and
success = every FAIL_TO_PASS and PASS_TO_PASS test passes. The tests run in the sandbox
(when the workspace has one) with the project's virtualenv read-only: nothing the agent
left in its own checkout, its HOME or its /tmp takes part."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.envs.swe.records import SWEInstance, patch_files
from lbi_icl.envs.swe.sandbox import Sandbox
from lbi_icl.envs.swe.shell import run_shell
from lbi_icl.envs.swe.submission import Submission, encode_diff
from lbi_icl.envs.swe.workspace import Workspace, git

# `-rA` prints one summary line per test: "PASSED path::test", "FAILED path::test - msg".
_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+(?:\[.*?\])?)(?: - (.*))?$")

PYTEST_ARGS = (
    "-p no:cacheprovider -o addopts= -o console_output_style=classic -rA --tb=line -q --color=no"
)


class TestRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcomes: dict[str, str]  # node id -> passed | failed | error | xfail | xpass
    messages: dict[str, str] = Field(default_factory=dict)  # node id -> failure summary
    exit_code: int
    timed_out: bool = False
    seconds: float = 0.0
    output: str = ""


def pytest_command(files: list[str]) -> str:
    return f"python -m pytest {PYTEST_ARGS} " + " ".join(shlex.quote(f) for f in files)


def parse_pytest(output: str) -> tuple[dict[str, str], dict[str, str]]:
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for line in output.splitlines():
        m = _SUMMARY.match(line.rstrip())
        if m is None:
            continue
        kind, node, msg = m.group(1).lower(), m.group(2), m.group(3)
        # an error in teardown after a pass still makes the test a failure
        if outcomes.get(node) == "passed" and kind != "passed":
            outcomes[node] = kind
        else:
            outcomes.setdefault(node, kind)
        if msg:
            messages.setdefault(node, msg.strip())
    return outcomes, messages


def run_pytest(
    cwd: Path,
    files: list[str],
    env: Mapping[str, str],
    *,
    timeout_s: float = 300.0,
    sandbox: Sandbox | None = None,
) -> TestRun:
    # a wide "terminal" keeps pytest from cutting the failure messages in its summary
    env = {**env, "COLUMNS": "400"}
    res = run_shell(
        pytest_command(files), cwd, timeout_s=timeout_s, output_cap=0, env=env, sandbox=sandbox
    )
    outcomes, messages = parse_pytest(res.output)
    return TestRun(
        outcomes=outcomes,
        messages=messages,
        exit_code=res.exit_code,
        timed_out=res.timed_out,
        seconds=res.seconds,
        output=res.output,
    )


class GradeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: bool
    score: float  # fraction of FAIL_TO_PASS + PASS_TO_PASS tests that pass
    fail_to_pass: dict[str, bool]
    pass_to_pass: dict[str, bool]
    diff: str  # exactly what was graded
    test_seconds: float
    error: str | None = None


def reset_test_files(cwd: Path, instance: SWEInstance, base: str | None = None) -> str | None:
    """Put the graded test files and the files the test patch touches back to the base
    commit `base` (default `instance.base_commit`), then apply the test patch. Returns an
    error text when the patch does not apply."""
    base = base or instance.base_commit
    files = dict.fromkeys([*instance.test_files(), *patch_files(instance.test_patch)])
    for file in files:
        if git(cwd, "ls-tree", base, "--", file, check=False).strip():
            git(cwd, "checkout", base, "--", file)
        else:
            (cwd / file).unlink(missing_ok=True)
    if not instance.test_patch.strip():
        return None
    return _apply(cwd, instance.test_patch.encode("utf-8"), "test patch")


def _apply(cwd: Path, patch: bytes, what: str) -> str | None:
    proc = subprocess.run(
        ["git", "apply", "--binary", "--whitespace=nowarn", "-"],
        cwd=str(cwd),
        input=patch,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return f"{what} did not apply: {proc.stderr.decode(errors='replace').strip()[:500]}"
    return None


def _result(
    instance: SWEInstance, diff: str, run: TestRun | None, error: str | None
) -> GradeResult:
    outcomes = run.outcomes if run is not None else {}
    f2p = {t: outcomes.get(t) == "passed" for t in instance.FAIL_TO_PASS}
    p2p = {t: outcomes.get(t) == "passed" for t in instance.PASS_TO_PASS}
    total = len(f2p) + len(p2p)
    passed = sum(f2p.values()) + sum(p2p.values())
    if run is not None and run.timed_out:
        error = "tests timed out"
    return GradeResult(
        success=error is None and all(f2p.values()) and all(p2p.values()),
        score=round(passed / total, 6) if total else 0.0,
        fail_to_pass=f2p,
        pass_to_pass=p2p,
        diff=diff,
        test_seconds=run.seconds if run is not None else 0.0,
        error=error,
    )


def grade(ws: Workspace, submission: Submission, *, timeout_s: float) -> GradeResult:
    """Grade `submission` on a clean checkout of `ws`'s base commit (see the module
    docstring). The grading folder is removed afterwards."""
    instance = ws.instance
    if submission.error is not None:
        return _result(instance, submission.diff, None, submission.error)
    repo, env, box = ws.grading_checkout()
    try:
        error = None
        if submission.diff:
            error = _apply(repo, encode_diff(submission.diff), "the submission")
        if error is None:
            error = reset_test_files(repo, instance, ws.base_sha)
        if error is not None:
            return _result(instance, submission.diff, None, error)
        if box is not None:
            box.give(repo, Path(env["HOME"]))
        run = run_pytest(repo, instance.test_files(), env, timeout_s=timeout_s, sandbox=box)
        return _result(instance, submission.diff, run, None)
    finally:
        shutil.rmtree(repo.parent, ignore_errors=True)
