"""Fast unit tests of issue 10's pieces (the end-to-end cases are in test_faults.py)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lbi_icl.data import Trajectory
from lbi_icl.data.checks import check_records
from lbi_icl.data.jsonl import lone_surrogate_at
from lbi_icl.index.errors import IndexFormatError
from lbi_icl.index.invariants import check_finite, check_offsets, check_step_table
from lbi_icl.retrieval.base import RetrievedItem
from lbi_icl.retrieval.select import interleave
from lbi_icl.runner.precheck import FailFast
from lbi_icl.util.locks import LockHeldError, hold, lock_path
from lbi_icl.util.scrub import ScrubFilter, scrub, scrub_text


def test_scrub_url_credentials_and_query_values() -> None:
    text = "POST http://bob:hunter2@h:8/v1/chat?api_key=abc123&x=1 done"
    out = scrub_text(text, secrets=[])
    assert "hunter2" not in out and "abc123" not in out
    assert out == "POST http://***@h:8/v1/chat?api_key=***&x=*** done"
    assert scrub({"a": ["https://h/p?token=zz"]}, secrets=[]) == {"a": ["https://h/p?token=***"]}


def test_scrub_filter_rewrites_log_records() -> None:
    rec = logging.LogRecord("httpx", logging.INFO, "f", 1, "HTTP %s", ("http://h/?k=s3cr3t",), None)
    ScrubFilter().filter(rec)
    assert "s3cr3t" not in rec.getMessage()


@pytest.mark.parametrize("via_symlink", [False, True])
def test_lock_second_holder_fails_naming_first(tmp_path: Path, via_symlink: bool) -> None:
    target = tmp_path / "run"
    target.mkdir()
    other = target
    if via_symlink:  # the same output under another name: still one writer
        other = tmp_path / "alias"
        other.symlink_to(target)
    code = (
        "import sys, time\nfrom lbi_icl.util.locks import hold\n"
        "with hold(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError) as e, hold(other):
            pass
        assert f"pid {p.pid}" in str(e.value)
    finally:
        p.kill()
        p.wait()
    with hold(target):  # the dead holder's lock is taken over
        assert json.loads(lock_path(target).read_text())["pid"] != p.pid
    assert not lock_path(target).exists()


def test_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with hold(tmp_path / "x"), hold(tmp_path / "x"):
        assert lock_path(tmp_path / "x").exists()


def test_invariants_reject_damaged_arrays(tmp_path: Path) -> None:
    good = np.array([0, 3, 3, 7], dtype=np.int64)
    check_offsets(tmp_path / "o.npy", good, 3, 7)
    with pytest.raises(IndexFormatError, match="monotone"):
        check_offsets(tmp_path / "o.npy", np.array([0, 5, 3, 7]), 3, 7)
    ex_steps = np.array([0, 2, 3], dtype=np.int64)
    check_step_table(
        tmp_path, ex_steps, np.array([0, 0, 1], np.int32), np.array([0, 1, 0], np.int32), 2
    )
    with pytest.raises(IndexFormatError, match="steps_example"):
        check_step_table(
            tmp_path, ex_steps, np.array([0, 0, 7], np.int32), np.array([0, 1, 0], np.int32), 2
        )
    with pytest.raises(IndexFormatError, match="steps_pos"):
        check_step_table(
            tmp_path, ex_steps, np.array([0, 0, 1], np.int32), np.array([0, 0, 0], np.int32), 2
        )
    vec = np.ones((4, 3), dtype=np.float32)
    check_finite(tmp_path / "v.npy", vec)
    vec[2, 1] = np.nan
    with pytest.raises(IndexFormatError, match="row 2"):
        check_finite(tmp_path / "v.npy", vec)


def test_one_validator_flags_surrogates_zero_steps_and_empty_files(tmp_path: Path) -> None:
    assert lone_surrogate_at({"a": [{"b": "x\ud800"}]}) == "a.0.b"
    p = tmp_path / "d.jsonl"
    good = {
        "id": "g",
        "env": "e",
        "instruction": "i",
        "steps": [{"observation": "o", "action": "a"}],
    }
    zero = {**good, "id": "z", "steps": []}
    p.write_text(json.dumps(good) + "\n" + json.dumps(zero) + "\n")
    results = list(check_records(p, Trajectory))
    assert isinstance(results[0][1], Trajectory)
    assert isinstance(results[1][1], list) and "at least one step" in str(results[1][1][0])
    (tmp_path / "e.jsonl").write_text("")
    (res,) = list(check_records(tmp_path / "e.jsonl", Trajectory))
    assert "empty file" in str(res[1][0])  # type: ignore[index]


def test_surrogate_escapes_in_a_file_lone_refused_pairs_and_literals_kept(tmp_path: Path) -> None:
    base = '{"id": "%s", "env": "e", "instruction": "%s", '
    base += '"steps": [{"observation": "o", "action": "a"}]}'
    lines = [
        base % ("pair", "smile \\ud83d\\ude00"),  # an escaped surrogate *pair*: valid text
        base % ("literal", "a backslash then ud800: \\\\ud800"),  # not an escape at all
        base % ("lone", "x \\uD800 y"),
    ]
    p = tmp_path / "s.jsonl"
    p.write_text("\n".join(lines) + "\n")
    results = list(check_records(p, Trajectory))
    assert results[0][1].instruction == "smile \U0001f600"  # type: ignore[union-attr]
    assert results[1][1].instruction.endswith("\\ud800")  # type: ignore[union-attr]
    (problem,) = results[2][1]  # type: ignore[misc]
    assert (problem.line, problem.field) == (3, "instruction")
    assert "lone surrogate" in str(problem)


def _item(i: int, strategy: str) -> RetrievedItem:
    return RetrievedItem(
        id=f"{strategy}{i}", kind="example", score=1.0, rank=0, strategy=strategy, query=""
    )


def test_interleave_alternates_parts_by_rank() -> None:
    a = [_item(i, "observation") for i in range(3)]
    b = [_item(i, "model") for i in range(1)]
    assert [it.id for it in interleave(a, b)] == [
        "observation0",
        "model0",
        "observation1",
        "observation2",
    ]


def test_fail_fast_needs_n_equal_errors() -> None:
    ff = FailFast(3)
    assert not ff.observe("error", "LLM 'x' failed at step 1")
    assert not ff.observe("error", "LLM 'y' failed at step 2")
    assert ff.observe("error", "LLM 'z' failed at step 9") and ff.aborted
    ff2 = FailFast(3)
    assert not ff2.observe("done", None)
    assert not any(ff2.observe("error", "e") for _ in range(5))


def test_step_logs_record_what_the_agentic_budget_dropped(tmp_path: Path) -> None:
    """Default RetrievalConfig (3000-token budget) on long observations: the step log names
    the dropped items, and the kept ones hold both parts alike."""
    from lbi_icl.agent import AgentConfig, make_policy, run_episode
    from lbi_icl.data import Step, Task
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.envs.base import StepResult
    from lbi_icl.index import build_index_from, load_index
    from lbi_icl.retrieval import RetrievalConfig, make_retriever

    words = [
        "kitchen",
        "stove",
        "pot",
        "water",
        "sink",
        "table",
        "chair",
        "door",
        "key",
        "box",
        "ball",
        "red",
        "blue",
        "green",
    ]

    def obs(i: int) -> str:
        return " ".join(words[(i + k) % len(words)] for k in range(90))

    trajs = [
        Trajectory(
            id=f"t{i}",
            env="toy",
            instruction=f"task {i}",
            steps=[Step(observation=obs(i + j), action="go") for j in range(6)],
        )
        for i in range(30)
    ]
    build_index_from(trajs, tmp_path / "idx", embedder=HashEmbedder(64))
    index = load_index(tmp_path / "idx", embedder=HashEmbedder(64))

    class LongEnv:
        name = "toy"

        def reset(self, task: Task) -> str:
            return obs(0)

        def step(self, action: str) -> StepResult:
            return StepResult(observation=obs(1), reward=1.0, done=True, info={"success": True})

        def action_space_text(self) -> str:
            return "Actions: go"

        def valid_actions(self) -> list[str]:
            return ["go"]

        def close(self) -> None:
            pass

    logs = []
    run_episode(
        LongEnv(),  # type: ignore[arg-type]
        Task(id="other", env="toy", instruction="boil water", split="test"),
        make_policy("retrieval", seed=0),
        make_retriever("agentic", index, RetrievalConfig()),
        config=AgentConfig(max_steps=1),
        seed=0,
        on_step=logs.append,
    )
    (log,) = logs
    kept = [r["strategy"] for r in log.retrieved]
    assert log.dropped and {"id", "rank", "strategy", "tokens"} <= set(log.dropped[0])
    assert abs(kept.count("model") - kept.count("observation")) <= 1 and "model" in kept
