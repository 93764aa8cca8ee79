"""Run pytest on chosen test files and read per-test outcomes; grade an episode the way
SWE-bench does: test files are reset to `base_commit`, the test patch is applied, and
success = every FAIL_TO_PASS and PASS_TO_PASS test passes."""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.envs.swe.records import SWEInstance, patch_files
from lbi_icl.envs.swe.shell import run_shell
from lbi_icl.envs.swe.workspace import git

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
    cwd: Path, files: list[str], env: Mapping[str, str], *, timeout_s: float = 300.0
) -> TestRun:
    # a wide "terminal" keeps pytest from cutting the failure messages in its summary
    env = {**env, "COLUMNS": "400"}
    res = run_shell(pytest_command(files), cwd, timeout_s=timeout_s, output_cap=0, env=env)
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
    diff: str
    test_seconds: float
    error: str | None = None


def reset_test_files(cwd: Path, instance: SWEInstance) -> str | None:
    """Put the graded test files and the files the test patch touches back to
    `base_commit` (an agent cannot pass by editing the tests), then apply the patch.
    Returns an error text when the patch does not apply."""
    files = dict.fromkeys([*instance.test_files(), *patch_files(instance.test_patch)])
    for file in files:
        if git(cwd, "ls-tree", instance.base_commit, "--", file, check=False).strip():
            git(cwd, "checkout", instance.base_commit, "--", file)
        else:
            (cwd / file).unlink(missing_ok=True)
    if not instance.test_patch.strip():
        return None
    proc = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"],
        cwd=str(cwd),
        input=instance.test_patch,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return f"test patch did not apply: {proc.stderr.strip()[:500]}"
    return None


def grade(
    cwd: Path, instance: SWEInstance, env: Mapping[str, str], diff: str, *, timeout_s: float
) -> GradeResult:
    error = reset_test_files(cwd, instance)
    run = run_pytest(cwd, instance.test_files(), env, timeout_s=timeout_s)
    f2p = {t: run.outcomes.get(t) == "passed" for t in instance.FAIL_TO_PASS}
    p2p = {t: run.outcomes.get(t) == "passed" for t in instance.PASS_TO_PASS}
    total = len(f2p) + len(p2p)
    passed = sum(f2p.values()) + sum(p2p.values())
    if run.timed_out:
        error = "tests timed out"
    return GradeResult(
        success=error is None and all(f2p.values()) and all(p2p.values()),
        score=round(passed / total, 6) if total else 0.0,
        fail_to_pass=f2p,
        pass_to_pass=p2p,
        diff=diff,
        test_seconds=run.seconds,
        error=error,
    )
