"""`lbi heldout` on the real ScienceWorld simulator: a gold path whose replay fails is kept
whole — the steps after the failure are the simulator's own answers — and flagged."""

from __future__ import annotations

import pytest

from lbi_icl.retrieval.heldout_gold import gold_path_trajectory, whole_expert_path

pytestmark = [pytest.mark.scienceworld, pytest.mark.slow]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("scienceworld")
    from lbi_icl.envs.scienceworld import ScienceWorldEnv

    e = ScienceWorldEnv(gold_cache=tmp_path_factory.mktemp("gold"))
    yield e
    e.close()


def test_a_failed_replay_is_played_to_the_end_of_the_gold_path(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    task = next(t for t in env.tasks("test") if t.metadata["task_type"] == "find-plant")
    gold = env.gold_actions(task)
    solved = env.demonstrate(task, max_steps=len(gold))
    assert solved is not None and solved.outcome == "success"
    # the same path with a wrong focus inserted: ScienceWorld fails the task there
    wrong = [*gold[:2], "focus on air", *gold[2:]]
    monkeypatch.setattr(env, "gold_actions", lambda t: list(wrong))
    first = env.demonstrate(task, max_steps=len(wrong))
    assert first is not None and first.outcome == "failure" and len(first.steps) == 3
    traj = whole_expert_path(env, task, len(wrong), first)
    assert traj is not None and [s.action for s in traj.steps] == wrong
    assert traj.metadata["replayed"] is False and traj.metadata["failed_at"] == 2
    assert traj.metadata["replay_end"] == "failed" and traj.outcome == "failure"
    assert traj.steps[2].info["score"] < 0
    # before the failure the observations are the solved replay's
    assert [s.observation for s in traj.steps[:2]] == [s.observation for s in solved.steps[:2]]
    assert traj.steps[3].observation != traj.steps[2].observation  # the world still answers
    cut = gold_path_trajectory(env, task, 4)
    assert cut is not None and len(cut.steps) == 4 and cut.metadata["truncated"] is True
