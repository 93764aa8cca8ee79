"""`lbi eval-retrieval` breakdowns: per task type, per step position (first 5 / middle /
last 5), per replay flag, and the held-out task types the index lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbi_icl.cli import main
from lbi_icl.data.jsonl import read_trajectories, write_jsonl
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.retrieval.breakdown import position_group
from lbi_icl.retrieval.evaluate import evaluate_retrieval

FIX = Path(__file__).parent / "fixtures" / "retrieval"
TRAJ, HELD = FIX / "trajectories.jsonl", FIX / "heldout.jsonl"


def test_position_groups() -> None:
    assert [position_group(i, 12) for i in range(12)] == (
        ["first 5"] * 5 + ["middle"] * 2 + ["last 5"] * 5
    )
    assert [position_group(i, 7) for i in range(7)] == ["first 5"] * 5 + ["last 5"] * 2
    assert {position_group(i, 4) for i in range(4)} == {"first 5"}


def heldout_with_long_and_unknown(tmp_path: Path) -> Path:
    """The fixture's held-out set, plus a 12-step 'boil' trajectory (not replayed) and a
    trajectory of a task type ('juggle') the index has no example of."""
    held = list(read_trajectories(HELD))
    boil = held[1]
    long_boil = boil.model_copy(
        update={
            "id": "held-boil-long",
            "steps": list(boil.steps) * 4,
            "metadata": {"task_id": "boil/9", "replayed": False},
        }
    )
    juggle = held[0].model_copy(
        update={"id": "held-juggle", "metadata": {"task_id": "juggle/1", "replayed": True}}
    )
    held = [t.model_copy(update={"metadata": {**t.metadata, "replayed": True}}) for t in held]
    out = tmp_path / "held.jsonl"
    write_jsonl(out, [*held, long_boil, juggle])
    return out


def test_breakdowns_regroup_the_per_step_hits(tmp_path: Path) -> None:
    build_index([TRAJ], tmp_path / "idx", embedder=HashEmbedder(64))
    index = load_index(tmp_path / "idx")
    held_path = heldout_with_long_and_unknown(tmp_path)
    trajs = list(read_trajectories(held_path))
    report = evaluate_retrieval(
        index, trajs, strategies=["observation", "agentic", "history"], k=3, bootstrap=100
    )
    assert report.heldout_steps == 7 + 12 + 2
    # per-step keys in evaluation order, to recompute every group by hand
    types, positions, flags = [], [], []
    for t in trajs:
        for i in range(len(t.steps)):
            types.append(t.task_id.split("/")[0])  # type: ignore[union-attr]
            positions.append(position_group(i, len(t.steps)))
            flags.append("replayed" if t.metadata.get("replayed") else "not replayed")
    assert positions.count("middle") == 2 and positions.count("last 5") == 5
    hits = {m.strategy: [r > 0 for r in m.first_exact_ranks] for m in report.strategies}
    groups = {(g.by, g.group, g.strategy): g for g in report.breakdowns}
    for by, keys in (("task_type", types), ("position", positions), ("replayed", flags)):
        for group in set(keys):
            sel = [j for j, key in enumerate(keys) if key == group]
            for s, h in hits.items():
                g = groups[(by, group, s)]
                assert g.steps == len(sel)
                assert g.hit_exact == pytest.approx(sum(h[j] for j in sel) / len(sel))
                if s != "agentic":  # paired against the baseline on the same steps
                    want = sum(h[j] - hits["agentic"][j] for j in sel) / len(sel)
                    assert g.diff_exact == pytest.approx(want, abs=1e-6)
                    assert g.diff_exact_ci is not None
    assert groups[("position", "middle", "history")].trajectories == 1
    assert groups[("replayed", "not replayed", "history")].steps == 12
    cov = {c.task_type: c for c in report.coverage}
    assert cov["juggle"].index_examples == 0 and cov["boil"].index_examples == 2
    assert cov["boil"].heldout_trajectories == 2 and cov["boil"].heldout_steps == 15
    labels = [index.meta("label", int(e)) for e in index.step_example]
    assert cov["boil"].index_steps == labels.count("boil") > 0
    assert report.missing_types == ["juggle"]


def test_cli_prints_breakdown_tables_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    idx = tmp_path / "idx"
    argv = ["index", "build", "--trajectories", str(TRAJ), "--out", str(idx), "--embedder", "hash"]
    assert main([*argv, "--json"]) == 0
    held = heldout_with_long_and_unknown(tmp_path)
    base = ["eval-retrieval", "--index", str(idx), "--heldout", str(held), "-k", "3",
            "--strategies", "agentic,history", "--bootstrap", "50"]  # fmt: skip
    capsys.readouterr()
    assert main(base) == 0
    text = capsys.readouterr().out
    assert "by step position" in text and "by task type" in text and "by expert replay" in text
    for group in ("first 5", "middle", "last 5", "not replayed", "juggle"):
        assert group in text
    assert "index lacks examples for: juggle (1 of 4)" in text
    assert main([*base, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["missing_types"] == ["juggle"]
    assert {g["by"] for g in report["breakdowns"]} == {"task_type", "position", "replayed"}
