"""Cheats that once passed the swe grader, each tried for real on the fixture task set: every
one must earn no success, and each is an ordinary failed step or episode, never an error.

Each cheat is first shown to work where it used to be graded (the agent's own checkout), so
a test cannot pass because the cheat itself was broken."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from swe_setup import build_fixture_taskset, require_sandbox

from lbi_icl.envs import make_env
from lbi_icl.envs.swe.sandbox import SANDBOX_UID, python_paths

pytestmark = [pytest.mark.swe, pytest.mark.slow]

# A pytest hook that reports every test as passed (what a hidden conftest.py did).
PASS_ALL = (
    "import pytest\n"
    "@pytest.hookimpl(hookwrapper=True)\n"
    "def pytest_runtest_makereport(item, call):\n"
    "    outcome = yield\n"
    "    outcome.get_result().outcome = 'passed'\n"
)
# The same, installed from a module any Python process imports at start-up.
SITE_HOOK = (
    "import _pytest.reports as r\n"
    "_orig = r.TestReport.from_item_and_call\n"
    "def _fake(item, call):\n"
    "    rep = _orig(item, call)\n"
    "    rep.outcome = 'passed'\n"
    "    return rep\n"
    "r.TestReport.from_item_and_call = staticmethod(_fake)\n"
)
ALWAYS_FAILS = "def test_always_fails():\n    assert False\n"


@pytest.fixture(scope="module")
def taskset(tmp_path_factory) -> Path:
    require_sandbox()
    return build_fixture_taskset(tmp_path_factory.mktemp("swe_cheats"))


@pytest.fixture
def env(taskset):
    e = make_env("swe", tasks_file=str(taskset), cache_dir=str(taskset.parent / "cache"))
    yield e
    e.close()


def _write(path: str, text: str) -> str:
    """One shell line that writes `text` to `path` (how an agent writes files)."""
    return f"printf '%s' {shlex.quote(text)} > {shlex.quote(path)}"


def _run(env, command: str) -> str:
    res = env.step(command)
    assert not res.done
    return res.observation


def _lines(observation: str) -> list[str]:
    """The command's output lines (after the `exit code N` line)."""
    return observation.splitlines()[1:]


def _fails_nothing(observation: str) -> bool:
    """A pytest run where the always-failing test passed (the cheat works here)."""
    return "1 passed" in observation and "failed" not in observation


def _submit(env) -> dict:
    final = env.step("submit")
    assert final.done
    return final.info


def test_hidden_conftest_is_not_graded(env, taskset):
    env.reset(env.tasks("train")[0])
    # the project ignores /*.py (as semver's .gitignore does), so `git diff` would not show it
    _run(env, _write(".gitignore", "/*.py\n"))
    _run(env, _write("conftest.py", PASS_ALL))
    _run(env, _write("check_fails.py", ALWAYS_FAILS))
    assert "conftest.py" not in _run(env, "git status --short")  # hidden from git
    assert _fails_nothing(_run(env, "python -m pytest -q -p no:cacheprovider check_fails.py"))
    info = _submit(env)
    assert info["success"] is False and info["score"] < 1.0
    assert info["excluded"]["conftest.py"] == "runs at interpreter or pytest start-up"
    assert "conftest.py" not in info["diff"]
    assert "check_fails.py" in info["diff"]  # what is graded is what is recorded


def test_start_up_hooks_and_plugin_metadata_are_not_graded(env):
    env.reset(env.tasks("train")[0])
    _run(env, _write("sitecustomize.py", SITE_HOOK))  # the checkout is on PYTHONPATH
    _run(env, _write("check_fails.py", ALWAYS_FAILS))
    assert _fails_nothing(_run(env, "python -m pytest -q -p no:cacheprovider check_fails.py"))
    _run(env, "rm sitecustomize.py")
    # a pytest plugin found through an entry point in package metadata on PYTHONPATH
    _run(env, _write("cheat_plugin.py", PASS_ALL))
    _run(env, "mkdir -p cheat.egg-info")
    _run(env, _write("cheat.egg-info/PKG-INFO", "Metadata-Version: 2.1\nName: cheat\n"))
    _run(env, _write("cheat.egg-info/entry_points.txt", "[pytest11]\ncheat = cheat_plugin\n"))
    assert _fails_nothing(_run(env, "python -m pytest -q -p no:cacheprovider check_fails.py"))
    _run(env, _write("sitecustomize.py", SITE_HOOK))
    info = _submit(env)
    assert info["success"] is False
    assert set(info["excluded"]) == {
        "sitecustomize.py",
        "cheat.egg-info/PKG-INFO",
        "cheat.egg-info/entry_points.txt",
    }
    assert "cheat_plugin.py" in info["diff"]  # harmless without its entry point


def test_the_venv_and_host_packages_cannot_be_poisoned(env):
    task = env.tasks("train")[0]
    env.reset(task)
    venv_site = _run(env, "python -c 'import site; print(site.getsitepackages()[0])'")
    venv_site = venv_site.splitlines()[-1].strip()
    targets = [venv_site, *(str(p) for p in python_paths())]
    before = {t: sorted(os.listdir(t)) for t in targets if os.path.isdir(t)}
    for target in targets:
        for name in ("zz_cheat.pth", "pytest_cheat.py"):
            obs = _run(env, _write(f"{target}/{name}", "import sitecustomize\n"))
            assert obs.startswith("exit code 1") and "Read-only file system" in obs, obs
    info = _submit(env)
    assert info["success"] is False
    assert {t: sorted(os.listdir(t)) for t in before} == before
    # a fresh episode that does nothing is not resolved either
    env.reset(task)
    assert _submit(env)["success"] is False


def test_the_task_file_caches_repositories_and_fixes_are_out_of_reach(env, taskset):
    records = [json.loads(x) for x in (taskset / "train.jsonl").read_text().splitlines()]
    rec = records[0]
    env.reset(env.tasks("train")[0])
    repo = taskset / rec.get("mirror", rec["repo"])
    cache = taskset.parent / "cache"
    for path in (taskset / "train.jsonl", taskset / "test.jsonl", repo, cache / "sdists"):
        obs = _run(env, f"ls {shlex.quote(str(path))}")
        assert obs.startswith("exit code 2") and "No such file or directory" in obs, obs
    # the cache shows the project's own virtualenv and nothing else
    listing = _lines(_run(env, f"ls {shlex.quote(str(cache))}/venvs"))
    assert listing == [f"calc_train-py{sys.version_info.major}.{sys.version_info.minor}"]
    # git: the base commit and nothing else
    assert _lines(_run(env, "git log --all --format=%H")) == [rec["base_commit"]]
    assert _lines(_run(env, "git tag; git branch -a | grep -v HEAD")) == []
    for obj in (rec["environment_setup_commit"], f"{rec['environment_setup_commit']}:minicalc"):
        assert not _run(env, f"git cat-file -e {obj}").startswith("exit code 0")
    obs = _run(env, f"git fetch {shlex.quote(str(repo))} {rec['environment_setup_commit']}")
    assert not obs.startswith("exit code 0")
    # not root, no network, another workspace invisible
    uid = SANDBOX_UID if os.geteuid() == 0 else os.getuid()
    assert _lines(_run(env, "id -u")) == [str(uid)]
    py = "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)"
    assert "Network is unreachable" in _run(env, f'python -c "{py}"')
    other = make_env("swe", tasks_file=str(taskset), cache_dir=str(taskset.parent / "cache"))
    try:
        other.reset(other.tasks("train")[1])
        assert other.ws is not None
        obs = _run(env, f"ls {shlex.quote(str(other.ws.path))}")
        assert "No such file or directory" in obs
    finally:
        other.close()
    assert _submit(env)["success"] is False


def test_secrets_in_the_environment_do_not_reach_the_agent(env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-leak-123")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-do-not-leak-456")
    env.reset(env.tasks("train")[0])
    out = _run(env, "env")
    assert "do-not-leak" not in out and "PYTHONPATH=" in out


def test_the_recorded_diff_is_exactly_what_was_graded(env, taskset, tmp_path):
    """The recorded diff (with a binary and an ignored file in it), applied by hand to a
    fresh clone of the base commit with the test patch, passes the graded tests."""
    task = env.tasks("train")[0]
    env.reset(task)
    rec = next(
        json.loads(x)
        for x in (taskset / "train.jsonl").read_text().splitlines()
        if json.loads(x)["instance_id"] == task.id
    )
    _run(env, _write(".gitignore", "/*.bin\n"))
    # A NUL byte makes git call the file binary (random bytes alone have no NUL 78% of the time).
    _run(env, "{ printf 'PK\\000\\001'; head -c 64 /dev/urandom; } > blob.bin")
    apply_fix = f"printf '%s' {shlex.quote(rec['patch'])} | git apply -"
    assert _run(env, apply_fix).startswith("exit code 0")
    info = _submit(env)
    assert info["success"] is True
    assert "GIT binary patch" in info["diff"] and "blob.bin" in info["diff"]
    clone = tmp_path / "clone"
    source = taskset / rec.get("mirror", rec["repo"])
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(source), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "-q", rec["base_commit"]], check=True)
    for patch in (info["diff"], rec.get("test_patch") or ""):
        if patch:
            apply = ["git", "-C", str(clone), "apply", "--binary", "-"]
            subprocess.run(apply, input=patch.encode(), check=True)
    assert (clone / "blob.bin").stat().st_size == 4 + 64
    tests = rec["FAIL_TO_PASS"] + rec["PASS_TO_PASS"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=clone,
        env={**os.environ, "PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert f"{len(tests)} passed" in run.stdout
