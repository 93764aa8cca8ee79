"""`lbi heldout`: expert demonstrations of a split's tasks as held-out sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbi_icl.cli import main
from lbi_icl.jsonl import read_trajectories

pytest.importorskip("minigrid")

LEVEL = '["BabyAI-GoToLocal-v0"]'


def test_babyai_dev_seeds_with_the_bot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dev.jsonl"
    argv = ["heldout", "--env", "babyai", "--split", "dev", "--tasks", "3",
            "--env-option", f"levels={LEVEL}", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    trajs = list(read_trajectories(out))
    assert summary["tasks"] == 3 and summary["trajectories"] == len(trajs) > 0
    assert summary["steps"] == sum(len(t.steps) for t in trajs)
    assert summary["trajectories"] + len(summary["skipped"]) == 3
    for t in trajs:
        assert t.outcome == "success" and t.source_kind == "expert"
        seed = int(t.task_id.rsplit("seed-", 1)[1])  # type: ignore[union-attr]
        assert 1_000_000 <= seed < 2_000_000  # dev seeds, never train or test
    first = out.read_bytes()
    assert main(argv) == 0  # deterministic
    assert out.read_bytes() == first


def test_bad_split_and_env_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.jsonl"
    assert main(["heldout", "--env", "babyai", "--split", "nope", "--out", str(out)]) == 1
    assert "--split 'nope'" in capsys.readouterr().err
    assert main(["heldout", "--env", "no-such-env", "--out", str(out)]) == 1
    assert "--env 'no-such-env'" in capsys.readouterr().err
    assert not out.exists()
