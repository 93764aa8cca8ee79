"""Algorithm 1 with a real local model on MiniWoB++ (issue 27): `lbi synthesize --llm
--committee` on one MiniWoB task — one self-instructed task, one LLM rollout step, LLM
backward construction of its one window and one committee vote, all by the pinned fixture
GGUF served by llama.cpp on 127.0.0.1 — then the same command replayed from the response
cache (`--llm-cache-mode replay`) writes identical bytes.

Skipped when llama-cpp-python, the prepared model or Chromium is missing; with
LBI_REQUIRE_REAL_LLM=1 (set by CI) a missing engine or model is a failure instead. CPU time
is kept small: one task, one rollout step, one window, one instruction kind (about 1,900
prompt tokens in four calls). LBI_LLM_THREADS (default 2), LBI_LLM_AUTOGROUP_NICE and
LBI_LLM_NICE tune the server for a busy machine, as in tests/test_real_llm.py.

Also here, without a model: self-instruct runs a task written from a page about one MiniWoB
task on that task's page.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbi_icl.data import Document, Task
from lbi_icl.llm import ScriptedLLM
from lbi_icl.local.models import DEFAULT_FIXTURE, is_prepared, model_path
from lbi_icl.synth.self_instruct import self_instruct

REQUIRED = os.environ.get("LBI_REQUIRE_REAL_LLM", "") == "1"
ALIAS = "fixture-qwen-synth"


class _PagesEnv:
    """Just enough of an env for self-instruct: named tasks, two seeds each."""

    name = "pages"

    def tasks(self, split: str) -> list[Task]:
        return [
            Task(id=f"{n}/seed-{s}", env="pages", instruction=n, metadata={"task": n})
            for s in (0, 1)
            for n in ("alpha", "beta", "gamma")
        ]


def test_self_instruct_runs_a_page_s_tasks_on_that_page() -> None:
    docs = [
        Document(id="pages/overview", env="pages", title="All pages", text="..."),
        Document(id="pages/gamma", env="pages", title="gamma", text="..."),
        Document(id="pages/beta", env="pages", title="beta", text="..."),
    ]
    llm = ScriptedLLM(["do anything", "gamma one\ngamma two", "beta one\nbeta two"])
    got = self_instruct(_PagesEnv(), docs, llm, split="train", n=6, per_document=2, seed=0)
    assert [(t.task.instruction, t.task.id) for t in got] == [
        ("do anything", "alpha/seed-0"),  # a page about no one task: round robin
        ("gamma one", "gamma/seed-0"),  # gamma's page: gamma's start states, in turn
        ("gamma two", "gamma/seed-1"),
        ("beta one", "beta/seed-0"),
        ("beta two", "beta/seed-1"),
    ]
    assert len({t.uid for t in got}) == 5
    assert got[1].task.metadata["self_instruct"] == {
        "document_id": "pages/gamma",
        "base_task_id": "gamma/seed-0",
    }


# -- the real model ---------------------------------------------------------------------------
def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"LBI_REQUIRE_REAL_LLM=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        _unavailable("llama-cpp-python[server] is not installed (pip install -e '.[local-llm]')")
    if not is_prepared(DEFAULT_FIXTURE):
        _unavailable(f"the fixture model is not prepared (lbi model prepare {DEFAULT_FIXTURE})")
    from lbi_icl.local.server import LocalServer

    folder = tmp_path_factory.mktemp("server")
    group_nice = os.environ.get("LBI_LLM_AUTOGROUP_NICE")
    srv = LocalServer(
        model_path(DEFAULT_FIXTURE),
        name="pytest-real-llm-synth",
        alias=ALIAS,
        n_ctx=2048,
        threads=int(os.environ.get("LBI_LLM_THREADS", "2")),
        state_dir_=folder,
        autogroup_nice=int(group_nice) if group_nice else None,
        nice=int(os.environ["LBI_LLM_NICE"]) if os.environ.get("LBI_LLM_NICE") else None,
        die_with_parent=True,
        # logits of the last token only: the server's default keeps n_ctx x n_vocab floats
        extra_args=["--logits_all", "false"],
    )
    state = srv.start(wait_s=600)
    try:
        yield state
    finally:
        srv.stop()
        print(f"server log: {Path(state.log_file).read_text()[-600:]}")


@pytest.mark.real_llm
@pytest.mark.web
@pytest.mark.slow
def test_real_model_runs_algorithm_1_on_miniwob_and_the_cache_replays_it(
    server, tmp_path: Path
) -> None:
    pytest.importorskip("browsergym.miniwob")
    from lbi_icl.cli import main as cli_main
    from lbi_icl.envs.browsergym.launch import find_chromium

    if find_chromium() is None:
        pytest.skip("needs chromium (apt-get install chromium)")
    cache = tmp_path / "llm_cache.sqlite"

    def synthesize(out: Path, mode: str) -> int:
        argv = [
            "synthesize", "--env", "miniwob", "--split", "train", "--tasks", "1",
            "--llm", server.llm_spec, "--llm-base-url", server.base_url,
            "--llm-cache", str(cache), "--llm-cache-mode", mode,
            "--committee", server.llm_spec, "--tasks-per-document", "1",
            "--max-steps", "1", "--window-max", "1", "--windows-per-trajectory", "1",
            "--kinds", "abstract", "--env-option", 'task_names=["click-button"]',
            "--env-option", "slow_mo=0", "--env-option", "timeout_ms=30000",
            "--out", str(out), "--no-progress",
        ]  # fmt: skip
        return cli_main(argv)

    first = tmp_path / "first" / "data.jsonl"
    assert synthesize(first, "rw") == 0
    report = json.loads(first.with_name("data.report.json").read_text())
    c = report["counts"]
    print(json.dumps({k: report[k] for k in ("counts", "llm_calls", "stages")}, indent=1))
    # one self-instructed task, one LLM rollout of one step, one window relabeled
    assert c["documents"] >= 3 and c["tasks"] == 1
    assert c["raw_trajectories"] == 1 and c["raw_steps"] == 1 and c["windows"] == 1
    assert report["stages"]["tasks"].startswith("self-instruct")
    assert report["stages"]["explorers"] == ["llm"]
    assert report["stages"]["writer"] == f"llm:{server.llm_spec}"
    assert report["stages"]["committee"] == [server.llm_spec]
    raw = [json.loads(x) for x in first.with_name("data.raw.jsonl").read_text().splitlines()]
    assert raw[0]["source"]["explorer"] == "llm"
    assert raw[0]["metadata"]["self_instruct"]["document_id"].startswith("miniwob/")
    assert raw[0]["metadata"]["task"] == "click-button"
    # the model wrote the task, acted, relabeled the window and the committee voted once:
    # self-instruct + rollout + relabel + one vote = 4 calls, all answered by the server
    assert c["examples_backward"] == 1
    assert c["dropped_committee"] + c["examples_final"] == 1
    assert report["llm_calls"] == 4
    assert report["llm_input_tokens"] > 0 and report["llm_output_tokens"] > 0
    if c["examples_final"]:
        ex = json.loads(first.read_text())
        assert ex["source"]["writer"] == f"llm:{server.llm_spec}" and ex["instruction"]
        assert all(v is not None for v in ex["source"]["committee"].values())

    # the same command from the response cache alone (a miss would be an error): the same
    # bytes
    again = tmp_path / "again" / "data.jsonl"
    assert synthesize(again, "replay") == 0
    for name in ("data.jsonl", "data.raw.jsonl", "data.docs.jsonl"):
        assert again.with_name(name).read_bytes() == first.with_name(name).read_bytes(), name
    replayed = json.loads(again.with_name("data.report.json").read_text())
    assert replayed["counts"] == c and replayed["llm_calls"] == 4
