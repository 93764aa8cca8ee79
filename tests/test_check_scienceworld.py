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
