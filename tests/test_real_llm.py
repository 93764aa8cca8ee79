"""A real local model in the loop (issue 14): the pinned fixture GGUF served by llama.cpp on
127.0.0.1 drives `run_episode` on BabyAI (agentic retrieval, the model writing the queries)
and `lbi eval-retrieval --llm`, and the response cache replays both exactly.

Skipped when llama-cpp-python or the prepared model is missing (`pip install -e
'.[local-llm]'`, `lbi model prepare`); with LBI_REQUIRE_REAL_LLM=1 (set by CI) a missing
piece is a failure instead. CPU time is kept small: 2 steps, 48-token answers, k = 2.
LBI_LLM_THREADS (default 2), LBI_LLM_AUTOGROUP_NICE and LBI_LLM_NICE (unset) tune the server
for a busy machine (e.g. 1, -10, 0 when pytest itself runs under `nice -n 19`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbi_icl.local.models import DEFAULT_FIXTURE, is_prepared, model_path

pytestmark = [pytest.mark.real_llm, pytest.mark.babyai, pytest.mark.slow]

REQUIRED = os.environ.get("LBI_REQUIRE_REAL_LLM", "") == "1"
ALIAS = "fixture-qwen"
STEPS = 2


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
    threads = int(os.environ.get("LBI_LLM_THREADS", "2"))
    group_nice = os.environ.get("LBI_LLM_AUTOGROUP_NICE")  # a busy shared machine: e.g. -10
    srv = LocalServer(
        model_path(DEFAULT_FIXTURE),
        name="pytest-real-llm",
        alias=ALIAS,
        n_ctx=2048,
        threads=threads,
        state_dir_=folder,
        autogroup_nice=int(group_nice) if group_nice else None,
        nice=int(os.environ["LBI_LLM_NICE"]) if os.environ.get("LBI_LLM_NICE") else None,
        die_with_parent=True,
    )
    state = srv.start(wait_s=600)
    try:
        yield state
    finally:
        srv.stop()
        print(f"server log: {Path(state.log_file).read_text()[-400:]}")


@pytest.fixture(scope="module")
def babyai_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small BabyAI index from bot demonstrations, hashed (no torch in this test)."""
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.envs import make_env
    from lbi_icl.index import build_index_from

    env = make_env("babyai", levels=["BabyAI-GoToRedBallGrey-v0"])
    try:
        demos = [d for t in env.tasks("train", limit=6) if (d := env.demonstrate(t)) is not None]
    finally:
        env.close()
    assert len(demos) >= 3
    out = tmp_path_factory.mktemp("idx") / "babyai"
    build_index_from(demos, out, embedder=HashEmbedder())
    return out


def _episode(state, index_dir: Path, cache: Path, mode: str):
    from lbi_icl.agent import AgentConfig, make_policy, run_episode
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.envs import make_env
    from lbi_icl.index import load_index
    from lbi_icl.llm import make_llm
    from lbi_icl.retrieval import make_retriever
    from lbi_icl.retrieval.config import RetrievalConfig

    llm = make_llm(state.llm_spec, base_url=state.base_url, cache_path=cache, cache_mode=mode)
    index = load_index(index_dir, embedder=HashEmbedder())
    retriever = make_retriever(
        "agentic",
        index,
        RetrievalConfig(m1=1, m2=1, query_history_steps=1, query_max_tokens=24),
    )
    env = make_env("babyai", levels=["BabyAI-GoToRedBallGrey-v0"])
    logs = []
    try:
        task = env.tasks("test", limit=1)[0]
        result = run_episode(
            env,
            task,
            make_policy("llm", llm=llm),
            retriever,
            config=AgentConfig(
                max_steps=STEPS, history_steps=1, max_output_tokens=48, context_tokens=2048
            ),
            seed=0,
            retrieval_llm=llm,
            on_step=logs.append,
        )
    finally:
        env.close()
    return result, logs, llm


def test_real_model_drives_an_episode_and_the_cache_replays_it(
    server, babyai_index: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "llm_cache.sqlite"
    result, logs, llm = _episode(server, babyai_index, cache, "rw")
    print(json.dumps([[log.queries.get("model"), log.raw_output] for log in logs], indent=1))
    assert result.error is None, result.error
    assert result.stop_reason in ("done", "max_steps", "unparsable")
    assert result.policy_calls == len(logs) >= 1
    # the model answered, in the format, with actions the environment knows
    assert result.parsed_calls >= 1 and result.valid_calls >= 1
    assert any(log.parsed and log.executed for log in logs)
    # the queries were written by the model, and cleaned to one short line
    for log in logs:
        assert log.queries["query_writer"] == f"llm:openai:{ALIAS}"
        query = log.queries["model"]
        assert query and "\n" not in query and len(query.split()) <= 32
        assert log.retrieval_llm_s > 0 and log.retrieval_input_tokens > 0
    # token counts come from the server's usage block
    assert result.input_tokens > 0 and result.output_tokens > 0
    assert all(log.input_tokens > 0 and not log.cached for log in logs)
    assert llm.usage.snapshot().calls == 2 * len(logs)

    replayed, logs2, _ = _episode(server, babyai_index, cache, "replay")
    assert [x.raw_output for x in logs2] == [x.raw_output for x in logs]
    assert [x.action for x in logs2] == [x.action for x in logs]
    assert [x.queries for x in logs2] == [x.queries for x in logs]
    assert [x.prompt_sha256 for x in logs2] == [x.prompt_sha256 for x in logs]
    assert all(x.cached for x in logs2)
    assert replayed.steps == result.steps and replayed.success == result.success


def test_real_model_writes_eval_retrieval_queries_and_replays(
    server, babyai_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lbi_icl.cli import main as cli_main
    from lbi_icl.data.jsonl import write_jsonl
    from lbi_icl.envs import make_env

    env = make_env("babyai", levels=["BabyAI-GoToRedBallGrey-v0"])
    try:
        held = [d for t in env.tasks("dev", limit=2) if (d := env.demonstrate(t)) is not None]
    finally:
        env.close()
    heldout = tmp_path / "heldout.jsonl"
    write_jsonl(heldout, held[:1])
    cache = tmp_path / "eval_cache.sqlite"
    argv = [
        "eval-retrieval", "--index", str(babyai_index), "--heldout", str(heldout),
        "--strategies", "model", "-k", "2", "--max-steps", "2", "--llm", server.llm_spec,
        "--llm-base-url", server.base_url, "--llm-cache", str(cache),
        "--set", "query_max_tokens=24", "--set", "query_history_steps=1", "--json",
    ]  # fmt: skip
    assert cli_main(argv) == 0
    first = json.loads(capsys.readouterr().out)["strategies"][0]
    assert first["query_writers"] == {f"llm:openai:{ALIAS}": 2}
    assert first["query_samples"] and all(q.strip() for q in first["query_samples"])
    assert first["llm_seconds"] > 0

    assert cli_main([*argv, "--llm-cache-mode", "replay"]) == 0
    again = json.loads(capsys.readouterr().out)["strategies"][0]
    for key in ("query_writers", "query_samples", "first_exact_ranks", "hit_exact", "mrr_exact"):
        assert again[key] == first[key]
