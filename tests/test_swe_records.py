"""Public task records in the swe environment: SWE-bench's published JSONL and SWE-smith's
records (bug patch, branch as base, mirror repository) with local mirrors through
`repo_map`; `lbi swe check` naming every unusable record; a patch reversed exactly as
`git apply -R` would; `lbi heldout --env swe`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from swe_setup import build_fixture_taskset, sandbox_problem

from lbi_icl.cli import main as cli_main
from lbi_icl.envs import make_env
from lbi_icl.envs.swe.patches import reverse_patch
from lbi_icl.envs.swe.records import SWEInstance, TaskRecordError, load_records

pytestmark = [pytest.mark.swe]

SANDBOX = "on" if sandbox_problem() is None else "off"
SOURCE = "def mean(values):\n    if not values:\n        raise ValueError('empty')\n"
SOURCE += "    return sum(values) / len(values)\n"
BUGGY = SOURCE.replace("sum(values) / len(values)", "sum(values) // len(values)")
TESTS = (
    "import pytest\nfrom calc import mean\n\n\ndef test_mean():\n    assert mean([1, 2]) == 1.5\n"
    "\n\ndef test_empty():\n    with pytest.raises(ValueError):\n        mean([])\n"
)


def _git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    who = {f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER")
           for key, value in (("NAME", "t"), ("EMAIL", "t@t.invalid"))}  # fmt: skip
    env = {**who, "PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    out = subprocess.run(["git", *args], cwd=cwd, env=env, input=input, capture_output=True)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


@pytest.fixture
def mirror(tmp_path) -> tuple[Path, str, str]:
    """A SWE-smith-style mirror: main holds the clean project, branch `INSTANCE` the bug."""
    repo = tmp_path / "mirror"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text(SOURCE)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_calc.py").write_text(TESTS)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "clean")
    clean = _git(repo, "rev-parse", "HEAD").strip()
    _git(repo, "checkout", "-q", "-b", "o__calc.1234abcd.func_pm_op_change__x1")
    (repo / "calc.py").write_text(BUGGY)
    _git(repo, "commit", "-qam", "Bug Patch")
    bug_patch = _git(repo, "diff", clean, "HEAD")
    _git(repo, "checkout", "-q", "main")
    return repo, clean, bug_patch


def _swesmith_record(bug_patch: str) -> dict:
    return {
        "instance_id": "o__calc.1234abcd.func_pm_op_change__x1",
        "repo": "swesmith/o__calc.1234abcd",
        "patch": bug_patch,
        "FAIL_TO_PASS": ["tests/test_calc.py::test_mean"],
        "PASS_TO_PASS": ["tests/test_calc.py::test_empty"],
        "created_at": "2025-04-01T00:00:00",
        "image_name": "swebench/swesmith.x86_64.o_1776_calc.1234abcd",
        "problem_statement": "mean() of [1, 2] is 1, not 1.5",
    }


def test_swesmith_record_runs_from_a_local_mirror(mirror, tmp_path):
    repo, _, bug_patch = mirror
    tasks = tmp_path / "swesmith.jsonl"
    tasks.write_text(json.dumps(_swesmith_record(bug_patch)) + "\n")
    repo_map = tmp_path / "repos.yaml"
    repo_map.write_text(f"swesmith/o__calc.1234abcd: {repo.name}\n")  # relative to the map
    (inst,) = load_records(tasks)
    assert inst.record_format == "swesmith" and inst.bug_patch == bug_patch
    assert inst.base_commit == "refs/heads/o__calc.1234abcd.func_pm_op_change__x1"
    assert "+    return sum(values) / len(values)" in inst.patch  # the fix is the bug reversed
    assert cli_main(["swe", "check", str(tasks), "--repo-map", str(repo_map)]) == 0
    env = make_env("swe", tasks_file=str(tasks), repo_map=str(repo_map), sandbox=SANDBOX,
                   cache_dir=str(tmp_path / "cache"))  # fmt: skip
    try:
        (task,) = env.tasks("test")
        env.reset(task)
        assert env.ws is not None and (env.ws.path / "calc.py").read_text() == BUGGY
        assert env.step("submit").info["success"] is False
        demo = env.demonstrate(task)  # the expert replays the reversed bug patch
        assert demo is not None and demo.outcome == "success"
    finally:
        env.close()
    # without the map the mirror is cloned from GitHub, which this machine cannot reach
    assert cli_main(["swe", "check", str(tasks)]) == 1


def test_swebench_record_with_published_encodings(mirror, tmp_path, capsys):
    repo, clean, bug_patch = mirror
    bug = _git(repo, "rev-parse", "o__calc.1234abcd.func_pm_op_change__x1").strip()
    record = {
        "repo": "o/calc", "instance_id": "o__calc-1", "base_commit": bug,
        "patch": reverse_patch(bug_patch), "test_patch": "", "problem_statement": "p",
        "hints_text": "", "created_at": "2024-01-01T00:00:00Z", "version": "1.0",
        "FAIL_TO_PASS": json.dumps(["tests/test_calc.py::test_mean"]),
        "PASS_TO_PASS": json.dumps(["tests/test_calc.py::test_empty"]),
        "environment_setup_commit": clean,
    }  # fmt: skip
    tasks = tmp_path / "swebench.jsonl"
    tasks.write_text(json.dumps(record) + "\n")
    repo_map = tmp_path / "map.json"
    repo_map.write_text(json.dumps({"o/calc": str(repo)}))
    assert cli_main(["swe", "check", str(tasks), "--repo-map", str(repo_map)]) == 0
    assert "1 instances OK" in capsys.readouterr().out


def test_check_names_every_unusable_record(mirror, tmp_path, capsys):
    repo, clean, bug_patch = mirror
    good = _swesmith_record(bug_patch)
    no_branch = {**good, "instance_id": "o__calc.1234abcd.gone__x2"}
    bad_patch = {**good, "instance_id": "o__calc.1234abcd.bad__x3", "base_commit": clean}
    no_test = {**good, "instance_id": "o__calc.1234abcd.t__x4",
               "base_commit": f"refs/heads/{good['instance_id']}",
               "FAIL_TO_PASS": ["tests/test_calc.py::test_nope"]}  # fmt: skip
    remote = {**good, "instance_id": "x__y-5", "repo": "someone/nothing", "image_name": "i"}
    no_mirror = {**good, "instance_id": "x__y-6", "repo": "o/z", "mirror": "repos/z"}
    tasks = tmp_path / "mixed.jsonl"
    rows = [good, no_branch, bad_patch, no_test, remote, no_mirror]
    tasks.write_text("".join(json.dumps(r) + "\n" for r in rows))
    repo_map = tmp_path / "map.json"
    repo_map.write_text(json.dumps({"swesmith/o__calc.1234abcd": str(repo)}))
    assert cli_main(["swe", "check", str(tasks), "--repo-map", str(repo_map)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 5 and not any(good["instance_id"] + ":" in x for x in lines)
    expect = {
        "o__calc.1234abcd.gone__x2": "is not a commit of",
        "o__calc.1234abcd.bad__x3": "patch does not apply",
        "o__calc.1234abcd.t__x4": "test tests/test_calc.py::test_nope does not exist",
        "x__y-5": "cannot reach https://github.com/someone/nothing.git",
        "x__y-6": "mirror 'repos/z' not found",
    }
    for (iid, why), line in zip(expect.items(), lines, strict=True):
        assert f"instance {iid}: " in line and why in line, line
    assert "5 of 6 instances unusable" in captured.err
    # the environment refuses the file before any episode, naming the first and counting
    env = make_env("swe", tasks_file=str(tasks), repo_map=str(repo_map), sandbox=SANDBOX)
    with pytest.raises(TaskRecordError, match=r"x2: .* \(and 2 more bad records"):
        env.tasks("test")


def test_a_bad_repo_map_is_named(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match=r"repo_map .*map.yaml: expected a mapping"):
        make_env("swe", repo_map=str(bad), sandbox=SANDBOX)


def test_reverse_patch_is_git_apply_reverse(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    _git(repo, "init", "-q")
    files = {"t.txt": "a\nb\nc\nd\ne\nf\ng\nh\n", "nonl.txt": "x", "gone.txt": "bye\n",
             "mode.sh": "echo\n", "old_name.txt": "same\ncontent\nhere\n"}  # fmt: skip
    for name, text in files.items():
        (repo / name).write_text(text)
    (repo / "bin.dat").write_bytes(bytes(range(256)))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    (repo / "t.txt").write_text("a\nB\nc\nd\ne\nf2\nf3\ng\nh\n")
    (repo / "nonl.txt").write_text("y\nz")
    (repo / "gone.txt").unlink()
    (repo / "new.txt").write_text("new\n")
    (repo / "bin.dat").write_bytes(bytes(reversed(range(256))) * 2)
    (repo / "mode.sh").chmod(0o755)
    (repo / "old_name.txt").rename(repo / "new_name.txt")
    _git(repo, "add", "-A")
    forward = _git(repo, "diff", "--cached", "--binary", "-M", "HEAD")
    assert "rename from" in forward and "GIT binary patch" in forward
    _git(repo, "commit", "-qm", "two")
    _git(repo, "apply", "-", input=reverse_patch(forward).encode())
    _git(repo, "add", "-A")
    assert _git(repo, "diff", "--cached", "HEAD~1", "--stat") == ""  # back to "one"
    assert reverse_patch(reverse_patch(forward)) == forward
    with pytest.raises(ValueError, match="patch: a binary patch without"):
        SWEInstance.model_validate(
            {**_swesmith_record("diff --git a/b b/b\nGIT binary patch\nliteral 1\nx\n\n"),
             "instance_id": "x"}
        )  # fmt: skip


@pytest.mark.slow
def test_heldout_demonstrates_swe_tasks(tmp_path, capsys):
    tasks = build_fixture_taskset(tmp_path)
    out = tmp_path / "heldout.jsonl"
    argv = ["heldout", "--env", "swe", "--split", "test", "--tasks", "2", "--out", str(out)]
    argv += ["--env-option", f"tasks_file={json.dumps(str(tasks))}"]
    argv += ["--env-option", f"cache_dir={json.dumps(str(tmp_path / 'cache'))}"]
    argv += ["--env-option", f"sandbox={json.dumps(SANDBOX)}"]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["trajectories"] == 2 and summary["skipped"] == []
    trajs = [json.loads(x) for x in out.read_text().splitlines()]
    assert all(t["outcome"] == "success" and t["steps"][-1]["action"] == "submit" for t in trajs)
