"""`lbi heldout`: every task of a split by default (whole expert paths, failed replays kept
and flagged), `--only-replayed` for solved replays only, `--offset`, the task-type mix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lbi_icl.cli import main
from lbi_icl.data import Task, Trajectory
from lbi_icl.data.jsonl import read_trajectories
from lbi_icl.envs.base import StepResult
from lbi_icl.retrieval.heldout import demonstrate_split
from lbi_icl.retrieval.heldout_gold import gold_path_trajectory

LEVEL = '["BabyAI-GoToLocal-v0"]'


def last_json(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])


class GoldEnv:
    """A ScienceWorld-like env: a gold path per task; the 'boil' replay fails (score < 0)
    at its third action, yet the simulator keeps answering; 'melt' is solved; 'freeze'
    has no gold path. `demonstrate` stops at the failure, as the real expert does."""

    name = "fakesw"

    def __init__(self) -> None:
        self.gold = {"boil/0": ["a0", "a1", "bad", "a3", "a4"], "melt/0": ["m0", "m1"]}
        self.task_id = ""
        self.t = 0

    def tasks(self, split: str, limit: int | None = None) -> list[Task]:
        if split != "test":
            return []
        ids = ["melt/0", "boil/0", "freeze/0", "melt/1"]
        return [Task(id=i, env=self.name, instruction=f"do {i}", split=split) for i in ids]

    def gold_actions(self, task: Task) -> list[str]:
        return list(self.gold.get(task.id.replace("melt/1", "melt/0"), []))

    def reset(self, task: Task) -> str:
        self.task_id, self.t = task.id, 0
        return f"start of {task.id}"

    def step(self, action: str) -> StepResult:
        self.t += 1
        n = len(self.gold_actions(Task(id=self.task_id, env=self.name, instruction="")))
        failed = self.task_id.startswith("boil") and self.t >= 3
        success = not failed and self.t == n
        score = -100 if failed else (100 if success else 10 * self.t)
        info = {"score": score, "success": success, "failed": failed}
        return StepResult(
            observation=f"after {action}", reward=0.0, done=failed or success, info=info
        )

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        gold = self.gold_actions(task)
        if not gold:
            return None
        obs, steps, res = self.reset(task), [], None
        for a in gold[:max_steps]:
            res = self.step(a)
            steps.append({"observation": obs, "action": a})
            obs = res.observation
            if res.done:
                break
        ok = bool(res and res.info["success"])
        return Trajectory.model_validate(
            {"id": f"x/{task.id}", "env": self.name, "instruction": task.instruction,
             "steps": steps, "final_observation": obs, "outcome": "success" if ok else "failure",
             "source": {"kind": "expert"}, "metadata": {"task_id": task.id,
             "gold_length": len(gold)}}
        )  # fmt: skip


def test_gold_path_played_through_a_failed_replay(tmp_path: Path) -> None:
    env = GoldEnv()
    s = demonstrate_split(env, "test", 4, tmp_path / "all.jsonl")  # type: ignore[arg-type]
    trajs = {t.task_id: t for t in read_trajectories(tmp_path / "all.jsonl")}
    assert s.tasks == 4 and s.trajectories == 3 and s.replayed == 2
    assert s.skipped == ["freeze/0"] and s.not_replayed == ["boil/0"]
    boil = trajs["boil/0"]  # the whole gold path, also the steps after the failure
    assert [st.action for st in boil.steps] == ["a0", "a1", "bad", "a3", "a4"]
    assert boil.steps[3].observation == "after bad" and boil.outcome == "failure"
    assert boil.metadata["replayed"] is False and boil.metadata["failed_at"] == 2
    assert boil.metadata["replay_end"] == "failed"
    assert trajs["melt/0"].metadata["replayed"] is True
    mix = {m.task_type: m for m in s.task_types}
    assert (mix["melt"].trajectories, mix["melt"].replayed, mix["melt"].steps) == (2, 2, 4)
    assert (mix["boil"].replayed, mix["freeze"].skipped) == (0, 1)

    old = demonstrate_split(env, "test", 4, tmp_path / "old.jsonl", only_replayed=True)  # type: ignore[arg-type]
    assert old.trajectories == 2 and old.skipped == ["boil/0", "freeze/0"]
    kept = list(read_trajectories(tmp_path / "old.jsonl"))
    assert [t.task_id for t in kept] == ["melt/0", "melt/1"]

    cut = gold_path_trajectory(env, env.tasks("test")[1], max_steps=2)
    assert cut is not None and len(cut.steps) == 2 and cut.metadata["truncated"] is True

    later = demonstrate_split(env, "test", 2, tmp_path / "o.jsonl", offset=2)  # type: ignore[arg-type]
    assert later.tasks == 2 and later.skipped == ["freeze/0"] and later.trajectories == 1
    with pytest.raises(ValueError, match="--offset 9"):
        demonstrate_split(env, "test", 1, tmp_path / "n.jsonl", offset=9)  # type: ignore[arg-type]


def test_babyai_bot_paths_kept_whole_or_only_replayed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("minigrid")
    out = tmp_path / "dev.jsonl"
    argv = ["heldout", "--env", "babyai", "--split", "dev", "--tasks", "3",
            "--env-option", f"levels={LEVEL}", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "task type" in printed and "BabyAI-GoToLocal-v0" in printed  # the mix table
    summary = last_json(printed)
    trajs = list(read_trajectories(out))
    assert summary["tasks"] == 3 == summary["trajectories"] == len(trajs)
    assert summary["steps"] == sum(len(t.steps) for t in trajs) and summary["skipped"] == []
    for t in trajs:
        assert t.outcome == "success" and t.source_kind == "expert" and t.metadata["replayed"]
        seed = int(t.task_id.rsplit("seed-", 1)[1])  # type: ignore[union-attr]
        assert 1_000_000 <= seed < 2_000_000  # dev seeds, never train or test
    first = out.read_bytes()
    assert main(argv) == 0  # deterministic
    assert out.read_bytes() == first
    capsys.readouterr()

    # a step limit the bot cannot finish in: kept (not replayed) by default, dropped with
    # --only-replayed
    short = [*argv, "--max-steps", "2"]
    assert main(short) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["trajectories"] == 3 and summary["replayed"] < 3
    cut = [t for t in read_trajectories(out) if not t.metadata["replayed"]]
    assert cut and all(len(t.steps) == 2 and t.outcome == "failure" for t in cut)
    assert main([*short, "--only-replayed"]) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["only_replayed"] and summary["trajectories"] == summary["replayed"]
    assert len(summary["skipped"]) == len(cut)

    assert main([*argv, "--offset", "2", "--tasks", "1"]) == 0  # the third dev task alone
    assert last_json(capsys.readouterr().out)["offset"] == 2
    (only,) = read_trajectories(out)
    assert only.task_id == trajs[2].task_id and only.steps == trajs[2].steps


def test_bad_split_and_env_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("minigrid")
    out = tmp_path / "x.jsonl"
    assert main(["heldout", "--env", "babyai", "--split", "nope", "--out", str(out)]) == 1
    assert "--split 'nope'" in capsys.readouterr().err
    assert main(["heldout", "--env", "no-such-env", "--out", str(out)]) == 1
    assert "--env 'no-such-env'" in capsys.readouterr().err
    assert main(["heldout", "--env", "babyai", "--offset", "-1", "--out", str(out)]) == 1
    assert "--offset" in capsys.readouterr().err
    assert not out.exists()
