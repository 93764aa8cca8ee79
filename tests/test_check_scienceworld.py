"""The ScienceWorld environment check's replay logic, on a scripted simulator."""

from __future__ import annotations

from dataclasses import dataclass

from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.synth.base import WindowInstruction
from lbi_icl.synth.check_scienceworld import ScienceWorldWindowChecker, first_mismatch
from lbi_icl.synth.relabelers import get_checker


@dataclass
class Res:
    observation: str
    done: bool = False


class FakeSim:
    """Answers action k with 'after <action>'; counts resets."""

    def __init__(self) -> None:
        self.resets = 0

    def task(self, task_id: str) -> Task:
        return Task(id=task_id, env="scienceworld", instruction="x")

    def reset(self, task: Task) -> str:
        self.resets += 1
        return "start"

    def step(self, action: str) -> Res:
        return Res(f"after {action}")

    def close(self) -> None:
        pass


def parent(observations: list[str], actions: list[str], final: str) -> Trajectory:
    return Trajectory(
        id="p",
        env="scienceworld",
        instruction="x",
        steps=[Step(observation=o, action=a) for o, a in zip(observations, actions, strict=True)],
        final_observation=final,
        metadata={"task_id": "boil/1"},
    )


WI = WindowInstruction(kind="abstract", instruction="do it", writer="test")


def test_first_mismatch_finds_the_first_unreproduced_observation() -> None:
    sim = FakeSim()
    good = parent(["start", "after a", "after b"], ["a", "b", "c"], "after c")
    assert first_mismatch(sim, good) is None
    bad = parent(["start", "after a", "something else"], ["a", "b", "c"], "after c")
    assert first_mismatch(sim, bad) == 2
    assert first_mismatch(sim, parent(["elsewhere"], ["a"], "after a")) == 0


def test_windows_before_the_mismatch_pass_and_the_parent_is_replayed_once() -> None:
    sim = FakeSim()
    checker = ScienceWorldWindowChecker(env_factory=lambda: sim)
    bad = parent(["start", "after a", "after b", "wrong"], ["a", "b", "c", "d"], "after d")
    assert checker.check(bad, 0, 2, WI)  # shows o0, o1 and o2 after its last action
    assert not checker.check(bad, 1, 3, WI)  # o3 was not reproduced
    assert not checker.check(bad, 3, 4, WI)
    assert sim.resets == 1 and checker.reasons == {"observation not reproduced": 2}
    assert get_checker("scienceworld").name == "env-check-scienceworld"  # type: ignore[union-attr]


class DoneSim(FakeSim):
    """Like FakeSim, but the episode ends on action 'end'."""

    def step(self, action: str) -> Res:
        return Res(f"after {action}", done=action == "end")


def test_a_replay_that_ends_with_the_recording_reproduces_it() -> None:
    # The final observation is counted once: a recording whose last action ends the episode
    # is reproduced (None), not reported as going on past the simulator's end.
    assert (
        first_mismatch(DoneSim(), parent(["start", "after a"], ["a", "end"], "after end")) is None
    )
    goes_on = parent(["start", "after end", "after b"], ["end", "b", "c"], "after c")
    assert first_mismatch(DoneSim(), goes_on) == 2


def _sw_example_run(env_check: bool, failed_filter: bool):  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from lbi_icl.synth.config import SynthConfig, SynthReport
    from lbi_icl.synth.pipeline import _Run

    config = SynthConfig(
        env="scienceworld",
        window_min=1,
        window_max=4,
        windows_per_trajectory=100,
        env_check=False,
        failed_filter=failed_filter,
        dedup=False,
    )
    report = SynthReport(config=config, output="x.jsonl")
    run = _Run(config, None, SimpleNamespace(name="scienceworld"), None, [], report)  # type: ignore[arg-type]
    if env_check:
        run.checker = ScienceWorldWindowChecker(env_factory=FakeSim)
    return run, report


def _recorded(observations: list[str], actions: list[str], final: str) -> Trajectory:
    p = parent(observations, actions, final)
    return p.model_copy(update={"instruction": "Your task is to find a plant."})


def test_the_synthesis_report_counts_windows_that_fail_the_replay() -> None:
    # o3 is not what the simulator answers: every window that shows o3 (or ends at step 3,
    # whose next observation it is) fails the check, and the report counts each of them.
    bad = _recorded(
        ["start", "after look", "after go", "WRONG"],
        ["look", "go", "open door", "look around"],
        "after look around",
    )
    run, report = _sw_example_run(env_check=True, failed_filter=False)
    kept = run.backward_and_filter(bad)
    c = report.counts
    assert c["dropped_env_check"] > 0
    assert c["dropped_env_check"] + len(kept) == c["examples_backward"]
    assert all(ex.source["span"][1] < 3 for ex in kept)  # only windows ending before o3
    assert ("  - failed the environment check", str(c["dropped_env_check"])) in report.table_rows()
    # the faithful recording loses nothing
    good = _recorded(
        ["start", "after look", "after go", "after open door"],
        ["look", "go", "open door", "look around"],
        "after look around",
    )
    run, report = _sw_example_run(env_check=True, failed_filter=False)
    assert len(run.backward_and_filter(good)) == report.counts["examples_backward"]
    assert report.counts["dropped_env_check"] == 0


def test_the_synthesis_report_counts_failed_steps_cut_only_when_the_filter_is_on() -> None:
    rec = _recorded(
        ["start", "You move to the kitchen.", "No known action matches that input."],
        ["go to kitchen", "fly away", "look around"],
        "This room is called the kitchen.",
    )
    run, report = _sw_example_run(env_check=False, failed_filter=True)
    examples = run.backward_and_filter(rec)
    c = report.counts
    shown = [ex for ex in examples if "fly away" in ex.actions()]
    assert not shown  # no kept example teaches the rejected action
    assert c["failed_steps_cut"] >= c["examples_with_failed_steps"] > 0
    row = dict(report.table_rows())["  - failed-action steps cut (steps)"]
    assert row == f"{c['failed_steps_cut']}  (in {c['examples_with_failed_steps']} examples)"
    run, report = _sw_example_run(env_check=False, failed_filter=False)
    assert any("fly away" in ex.actions() for ex in run.backward_and_filter(rec))
    assert report.counts["failed_steps_cut"] == report.counts["examples_with_failed_steps"] == 0
