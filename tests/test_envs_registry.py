"""Registry (built-ins, entry points, in-process registration), `lbi envs`, and the
crash/hang guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from lbi_icl.cli import main
from lbi_icl.data import Document, Task, Trajectory
from lbi_icl.envs import (
    EnvError,
    EnvNotInstalledError,
    GuardedEnv,
    StepResult,
    SubprocessWorker,
    UnknownEnvError,
    list_envs,
    make_env,
    register_env,
    unregister_env,
)
from lbi_icl.envs import registry as reg
from lbi_icl.envs.guard import RemoteError, WorkerCrashed, WorkerTimeout


class CounterEnv:
    """A tiny env: the observation counts the steps; 'hang' sleeps; 'crash' raises."""

    name = "counter"

    def __init__(self, hang_s: float = 30.0, die_on_crash: bool = False):
        self.n = 0
        self.hang_s = hang_s
        self.die_on_crash = die_on_crash

    def tasks(self, split: str) -> list[Task]:
        return [
            Task(id=f"count-{i}", env=self.name, instruction="count", split=split) for i in range(3)
        ]

    def reset(self, task: Task) -> str:
        self.n = 0
        return "0"

    def step(self, action: str) -> StepResult:
        if action == "hang":
            time.sleep(self.hang_s)
        if action == "crash":
            if self.die_on_crash:
                os._exit(3)
            raise ValueError("boom")
        self.n += 1
        return StepResult(observation=str(self.n), done=self.n >= 3)

    def action_space_text(self) -> str:
        return "say anything"

    def valid_actions(self) -> list[str] | None:
        return ["inc"]

    def documents(self) -> list[Document]:
        return []

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        return None

    def close(self) -> None:
        pass


def counter_factory() -> CounterEnv:
    return CounterEnv()


def dying_factory() -> CounterEnv:
    return CounterEnv(die_on_crash=True)


@pytest.fixture
def counter_registered():
    register_env("counter", CounterEnv, description="test env", overwrite=True)
    yield
    unregister_env("counter")


# -- registry -------------------------------------------------------------------------


def test_builtins_listed_with_install_hints():
    infos = {i.name: i for i in list_envs()}
    assert {"babyai", "scienceworld"} <= set(infos)
    assert infos["babyai"].install_hint == 'pip install -e ".[babyai]"'
    assert "scienceworld" in infos["scienceworld"].install_hint
    assert infos["babyai"].origin == "builtin"
    assert infos["babyai"].installed  # minigrid is in the dev environment


def test_importing_envs_does_not_import_environment_packages():
    code = (
        "import sys, lbi_icl.envs as e; e.list_envs(); "
        "heavy = ('minigrid', 'scienceworld', 'gymnasium'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_env_names_the_known_ones():
    with pytest.raises(UnknownEnvError, match="babyai"):
        make_env("no-such-env")


def test_missing_dependency_gives_install_command(monkeypatch):
    fake = reg._Entry(
        name="fancy",
        target="fancy_mod:Env",
        requires_modules=("surely_not_installed_mod",),
        install_hint='pip install -e ".[fancy]"',
    )
    monkeypatch.setitem(reg._BUILTINS, "fancy", fake)
    info = {i.name: i for i in list_envs()}["fancy"]
    assert not info.installed and info.missing == ["surely_not_installed_mod"]
    with pytest.raises(EnvNotInstalledError, match=r'pip install -e "\.\[fancy\]"'):
        make_env("fancy")


def test_register_env_in_process(counter_registered):
    env = make_env("counter", hang_s=0.1)
    assert isinstance(env, CounterEnv) and env.hang_s == 0.1
    assert "counter" in {i.name for i in list_envs()}
    with pytest.raises(ValueError, match="already registered"):
        register_env("counter", CounterEnv)


def test_register_rejects_non_env(counter_registered):
    register_env("notenv", lambda: object(), overwrite=True)
    try:
        with pytest.raises(TypeError, match="does not implement"):
            make_env("notenv")
    finally:
        unregister_env("notenv")


class _FakeEP:
    def __init__(self, name: str, value: str):
        self.name, self.value, self.group, self.dist = name, value, reg.ENTRY_POINT_GROUP, None


def test_third_party_entry_point(monkeypatch):
    eps = [
        _FakeEP("plugged", f"{__name__}:counter_factory"),
        # an entry point that tries to shadow a built-in is ignored
        _FakeEP("babyai", f"{__name__}:counter_factory"),
    ]

    def fake_entry_points(**kw: Any) -> list[_FakeEP]:
        assert kw == {"group": "lbi_icl.envs"}
        return eps

    monkeypatch.setattr(reg.importlib.metadata, "entry_points", fake_entry_points)
    infos = {i.name: i for i in list_envs()}
    assert infos["plugged"].origin == "entry-point"
    assert infos["babyai"].origin == "builtin"
    env = make_env("plugged")
    assert isinstance(env, CounterEnv)


def test_own_entry_points_match_the_builtins():
    """pyproject's `lbi_icl.envs` entry points name the same classes as the built-in table:
    a stale one is ignored with a warning that every `lbi` command would print."""
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    entry_points = tomllib.loads(pyproject.read_text())["project"]["entry-points"]
    declared = entry_points[reg.ENTRY_POINT_GROUP]
    assert declared == {name: entry.target for name, entry in reg._BUILTINS.items()}


def test_lbi_envs_lists_both(capsys):
    assert main(["envs", "--json", "--no-counts"]) == 0  # (counts: tests/test_web_protocol.py)
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["babyai"]["installed"] is True and "scienceworld" in rows
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "babyai" in out and "scienceworld" in out and "installed" in out


# -- guard ------------------------------------------------------------------------------


def _sleep(s: float) -> str:
    time.sleep(s)
    return "slept"


def _raise() -> None:
    raise KeyError("nope")


def test_worker_timeout_kills_and_recovers():
    with SubprocessWorker() as w:
        assert w.call(_sleep, 0.0, timeout_s=10) == "slept"
        t0 = time.perf_counter()
        with pytest.raises(WorkerTimeout):
            w.call(_sleep, 30, timeout_s=0.5)
        assert time.perf_counter() - t0 < 5
        assert not w.alive
        assert w.call(_sleep, 0.0, timeout_s=10) == "slept"  # a fresh worker
        assert w.restarts == 1
        with pytest.raises(RemoteError, match="KeyError"):
            w.call(_raise, timeout_s=10)


def test_worker_crash_is_reported():
    with SubprocessWorker() as w:
        with pytest.raises(WorkerCrashed):
            w.call(os._exit, 5, timeout_s=10)
        assert w.call(_sleep, 0.0, timeout_s=10) == "slept"


def test_guarded_process_env_times_out_with_task_and_step():
    env = GuardedEnv(counter_factory, mode="process", step_timeout_s=0.5, reset_timeout_s=10)
    try:
        task = Task(id="count-7", env="counter", instruction="count")
        assert env.reset(task) == "0"
        assert env.step("inc").observation == "1"
        with pytest.raises(
            EnvError, match=r"counter: task 'count-7', step 2 \('hang'\).*timed out"
        ):
            env.step("hang")
        with pytest.raises(EnvError, match="before reset"):
            env.step("inc")
        assert env.reset(task) == "0"  # a new env in a new worker
        with pytest.raises(EnvError, match=r"step 1 \('crash'\).*ValueError: boom"):
            env.step("crash")
    finally:
        env.close()


def test_guarded_process_env_survives_a_dying_env():
    env = GuardedEnv(dying_factory, mode="process", step_timeout_s=5)
    try:
        task = Task(id="t", env="counter", instruction="count")
        env.reset(task)
        with pytest.raises(EnvError, match="crashed"):
            env.step("crash")
        assert env.reset(task) == "0"
    finally:
        env.close()


def test_guarded_thread_env_with_factory_rebuilds_after_hang():
    env = GuardedEnv(lambda: CounterEnv(hang_s=3), mode="thread", step_timeout_s=0.3)
    task = Task(id="t1", env="counter", instruction="count")
    env.reset(task)
    t0 = time.perf_counter()
    with pytest.raises(EnvError, match=r"task 't1', step 1 \('hang'\).*timed out"):
        env.step("hang")
    assert time.perf_counter() - t0 < 2
    assert env.reset(task) == "0" and env.step("inc").observation == "1"
    env.close()


def test_guarded_thread_env_instance_is_unusable_after_hang():
    env = GuardedEnv(CounterEnv(hang_s=2), mode="thread", step_timeout_s=0.2)
    task = Task(id="t1", env="counter", instruction="count")
    env.reset(task)
    with pytest.raises(EnvError, match="timed out"):
        env.step("hang")
    with pytest.raises(EnvError, match="unusable"):
        env.reset(task)


def test_process_mode_needs_a_factory():
    with pytest.raises(ValueError, match="factory"):
        GuardedEnv(CounterEnv(), mode="process")
