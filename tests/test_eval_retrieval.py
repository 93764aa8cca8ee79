"""CLI round trip (build -> info -> query -> add -> eval-retrieval, all with --json) and the
offline retrieval metrics on known answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lbi_icl.cli import main
from lbi_icl.data.jsonl import read_trajectories
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.retrieval.evaluate import action_verb, evaluate_retrieval

FIX = Path(__file__).parent / "fixtures" / "retrieval"
TRAJ, DOCS, HELD = FIX / "trajectories.jsonl", FIX / "docs.jsonl", FIX / "heldout.jsonl"


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_build_info_query_add_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "indexes" / "toy")
    built = run_json(
        capsys, "index", "build", "--trajectories", str(TRAJ), "--docs", str(DOCS),
        "--out", out, "--embedder", "hash", "--json",
    )  # fmt: skip
    assert built["counts"]["examples"] == 8 and built["embedder"]["id"] == "hash-bow-v1@64"

    info = run_json(capsys, "index", "info", out, "--json")
    assert info["counts"] == {"examples": 8, "steps": 18, "documents": 4, "chunks": 4}
    assert info["bm25"]["engine"] == "bm25s" and info["chunking"] == {"words": 200, "overlap": 40}

    q = run_json(
        capsys, "index", "query", out, "--field", "observation",
        "--text", "a red door right in front", "-k", "2", "--json",
    )  # fmt: skip
    assert q["hits"][0]["id"] in ("ex-door", "ex-other-env") and q["hits"][0]["action"]
    for field in ("instruction", "description", "docs"):
        hits = run_json(capsys, "index", "query", out, "--field", field, "--text", "open door",
                        "--json")["hits"]  # fmt: skip
        assert 1 <= len(hits) <= 5 and hits[0]["rank"] == 1

    added = run_json(capsys, "index", "add", out, "--trajectories", str(HELD), "--json")
    assert added["counts"]["examples"] == 11

    report = run_json(
        capsys, "eval-retrieval", "--index", out, "--heldout", str(HELD), "-k", "3", "--json"
    )
    assert report["heldout_steps"] == 7 and report["k"] == 3
    assert report["heldout_ids_in_index"] == 3  # we just added them: the report says so
    names = [s["strategy"] for s in report["strategies"]]
    assert names == [
        "none", "rag", "instruction", "observation", "model", "agentic", "task_aware", "history",
        "random",
    ]  # fmt: skip
    by = {s["strategy"]: s for s in report["strategies"]}
    assert by["none"]["hit_exact"] is None and by["none"]["tokens_per_step"] == 0
    assert by["observation"]["hit_exact"] == 1.0  # leakage guard keeps the held-out copies out
    assert by["agentic"]["items_per_step"] <= 3

    # the table form works too
    assert main(["eval-retrieval", "--index", out, "--heldout", str(HELD), "--strategies",
                 "observation", "agentic"]) == 0  # fmt: skip
    assert "observation" in capsys.readouterr().out


def test_intervals_and_paired_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "toy"
    build_index([TRAJ], out, embedder=HashEmbedder(64))
    argv = ["eval-retrieval", "--index", str(out), "--heldout", str(HELD), "-k", "2",
            "--strategies", "instruction", "observation", "agentic", "task_aware",
            "--bootstrap", "500", "--set", 'task_aware={"w_task": 2}', "--json"]  # fmt: skip
    rep = run_json(capsys, *argv)
    assert rep["baseline"] == "agentic" and rep["bootstrap"] == 500
    assert rep["config"]["task_aware"]["w_task"] == 2
    for s in rep["strategies"]:
        lo, hi = s["hit_exact_ci"]
        assert lo <= s["hit_exact"] <= hi
    pairs = {(p["strategy"], p["metric"]): p for p in rep["paired"]}
    assert {s for s, _ in pairs} == {"instruction", "observation", "task_aware"}
    by = {s["strategy"]: s for s in rep["strategies"]}
    d = pairs[("observation", "hit_exact")]
    assert d["diff"] == pytest.approx(by["observation"]["hit_exact"] - by["agentic"]["hit_exact"])
    assert d["ci_low"] <= d["diff"] <= d["ci_high"]
    assert d["excludes_zero"] == (d["ci_low"] > 0 or d["ci_high"] < 0)
    # another baseline, and bad input named
    rep = run_json(capsys, *argv[:-1], "--baseline", "observation", "--json")
    assert rep["baseline"] == "observation"
    assert main([*argv[:-1], "--baseline", "model"]) == 1
    assert "--baseline 'model' is not among --strategies" in capsys.readouterr().err
    assert main([*argv[:-1], "--set", 'task_aware={"w_task": -1}']) == 1
    assert "--set retrieval.task_aware.w_task" in capsys.readouterr().err
    # table form prints the paired table
    assert main(argv[:-1]) == 0
    assert "paired differences vs agentic" in capsys.readouterr().out


def test_metrics_on_known_answers_and_determinism(tmp_path: Path) -> None:
    out = tmp_path / "toy"
    build_index([TRAJ], out, embedder=HashEmbedder(64))
    index = load_index(out)
    held = [t for t in read_trajectories(HELD) if t.id in ("held-door", "held-key")]
    rep = evaluate_retrieval(index, held, strategies=["observation", "model"], k=1)
    obs = rep.strategies[0]
    # every held-out step's nearest observation belongs to the analogous example, whose
    # action at that step is the gold one
    assert obs.steps == 4 and obs.hit_exact == 1.0 and obs.mrr_exact == 1.0
    assert obs.same_task_precision == 1.0 and obs.items_per_step == 1.0
    again = evaluate_retrieval(index, held, strategies=["observation", "model"], k=1)
    strip = lambda r: [  # noqa: E731
        s.model_dump(exclude={"latency_p50_ms", "latency_p95_ms", "llm_seconds"})
        for s in r.strategies
    ]
    assert strip(rep) == strip(again)


def test_action_verb_normalization() -> None:
    assert action_verb("pick up pot") == "pick up"
    assert action_verb("Go  forward") == "go forward"
    assert action_verb("open door") == "open"
    assert action_verb("move pot to sink") == "move"
    assert action_verb("") == ""


def test_cli_errors_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "info", str(tmp_path / "nope")]) == 1
    assert "no such index directory" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    out = tmp_path / "idx"
    code = main(
        ["index", "build", "--trajectories", str(bad), "--out", str(out), "--embedder", "hash"]
    )
    assert code == 1 and f"{bad}:1" in capsys.readouterr().err
    build_index([TRAJ], out, embedder=HashEmbedder(16))
    (out / "steps_obs.bin").write_bytes(b"cut")
    assert main(["index", "query", str(out), "--field", "observation", "--text", "door"]) == 1
    assert "steps_obs.bin: truncated" in capsys.readouterr().err
