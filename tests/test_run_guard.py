"""Environments cannot hang a run (issue 22 item 9): every step of `lbi run` runs under the
guard, so a hanging step becomes an error naming the task and step, the environment is
rebuilt, and the other episodes still run; `max_wall_s` cuts a step that runs past it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs import register_env, unregister_env
from lbi_icl.envs.base import StepResult
from lbi_icl.envs.guard import GuardedEnv
from lbi_icl.envs.run_guard import env_for_run
from lbi_icl.runner import RunConfig, latest_records, run_experiment

BUILT: list[int] = []
BOUND: list[int] = []  # one entry per env that `bind_run` set up for a run


class SlowEnv:
    """Task `t1`'s first step sleeps far past any limit; the others answer at once."""

    name = "slowenv"
    step_timeout_s = 1.0  # what a run waits for one step, unless --step-timeout says
    call_timeout_s = 1.0  # ... and for one demonstration

    def __init__(self) -> None:
        BUILT.append(1)
        self.task: Task | None = None
        self.n = 0

    def tasks(self, split: str) -> list[Task]:
        return [Task(id=f"t{i}", env=self.name, instruction="go", split=split) for i in range(3)]

    def reset(self, task: Task) -> str:
        self.task, self.n = task, 0
        return "start"

    def step(self, action: str) -> StepResult:
        assert self.task is not None
        if self.task.id == "t1":
            threading.Event().wait(30)
        self.n += 1
        return StepResult(observation=f"at {self.n}", reward=1.0, done=self.n >= 2)

    def action_space_text(self) -> str:
        return "say go"

    def valid_actions(self) -> list[str] | None:
        return ["go"]

    def documents(self) -> list[Document]:
        return []

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        if task.id == "t1":
            threading.Event().wait(30)
        steps = [Step(observation="start", action="go"), Step(observation="at 1", action="go")]
        return Trajectory(id=f"demo-{task.id}", env=self.name, instruction="go", steps=steps,
                          final_observation="at 2", outcome="success", source={"kind": "expert"},
                          metadata={"task_id": task.id})  # fmt: skip

    def bind_run(self, config: object) -> None:
        BOUND.append(id(self))

    def close(self) -> None:
        pass


def make_relabeler():  # the synthesis test's offline relabeler (test_synth's)
    from test_synth import SpanRelabeler

    return SpanRelabeler()


@pytest.fixture
def slowenv(tmp_path: Path, monkeypatch):
    from lbi_icl.synth import relabelers

    monkeypatch.setitem(relabelers.BUILTIN_RELABELERS, "slowenv", __name__)
    register_env("slowenv", SlowEnv, overwrite=True)
    BUILT.clear()
    BOUND.clear()
    script = tmp_path / "go.json"
    script.write_text(json.dumps({"default": "Reason: go.\nAction: go"}))
    yield f"scripted:{script}"
    unregister_env("slowenv")


def test_a_hanging_step_is_an_error_and_the_run_goes_on(slowenv, tmp_path):
    cfg = RunConfig(env="slowenv", policy="llm", llm=slowenv, out=tmp_path / "run", fail_fast=0)
    started = time.monotonic()
    summary = run_experiment(cfg, show_progress=False)
    assert time.monotonic() - started < 20  # not the 30 s the step would have taken
    recs = {r.task_id: r for r in latest_records(cfg.out).values()}
    assert recs["t0"].success and recs["t2"].success
    bad = recs["t1"]
    assert bad.stop_reason == "error" and bad.error is not None
    assert "task 't1', step 1 ('go'): step timed out after 1s" in bad.error
    # built to list the tasks, by the worker, and once more after the hang
    assert summary.errors == 1 and len(BUILT) == 3
    # every env was set up for the run (`bind_run`), the one the guard rebuilt after the
    # hang too
    assert len(BOUND) == 3


def test_step_timeout_flag_and_env_declared_limits(slowenv, tmp_path):
    env = env_for_run("slowenv", {}, step_timeout_s=7)
    assert isinstance(env, GuardedEnv) and env.step_timeout_s == 7
    assert env_for_run("slowenv", {}).step_timeout_s == 1.0  # type: ignore[attr-defined]
    assert env.valid_actions() == ["go"] and env.name == "slowenv"
    env.close()


def test_max_wall_s_cuts_a_running_step(slowenv, tmp_path):
    cfg = RunConfig(
        env="slowenv",
        policy="llm",
        llm=slowenv,
        out=tmp_path / "run",
        task_ids=["t1"],
        step_timeout_s=60,
        agent={"max_wall_s": 1.5},
    )
    started = time.monotonic()
    run_experiment(cfg, show_progress=False)
    assert time.monotonic() - started < 20
    (rec,) = latest_records(cfg.out).values()
    assert rec.stop_reason == "wall_time" and rec.error is None and not rec.success


def test_synthesis_skips_a_hanging_demonstration(slowenv, tmp_path):
    from lbi_icl.synth import SynthConfig, synthesize

    cfg = SynthConfig(env="slowenv", tasks=3, explorers=["expert"], env_check=False)
    started = time.monotonic()
    report = synthesize(cfg, tmp_path / "d.jsonl")
    assert time.monotonic() - started < 20
    assert report.complete and report.counts["rollouts_attempted"] == 3
    kept = {json.loads(x)["metadata"]["task_id"] for x in (tmp_path / "d.raw.jsonl").open()}
    assert kept == {"t0", "t2"}  # t1's expert hung: skipped, the env rebuilt, t2 ran
