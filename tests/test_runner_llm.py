"""End to end over the OpenAI wire format: `lbi run --policy llm` against the loopback stub
server drives the real CLI, runner, agent loop, LLM client, cache and BabyAI."""

from __future__ import annotations

import json

import pytest
from llm_servers import OpenAIStubServer, clear_llm_env

from lbi_icl.cli import main as cli_main
from lbi_icl.runner import latest_records

pytestmark = pytest.mark.babyai

SECRET = "sk-loopback-test-key-0123456789"


def _argv(out, base_url) -> list[str]:
    return [
        "run",
        "--env",
        "babyai",
        "--split",
        "test",
        "--tasks",
        "2",
        "--policy",
        "llm",
        "--llm",
        "openai:gpt-4o-mini",
        "--llm-base-url",
        base_url,
        "--retrieval",
        "none",
        "--out",
        str(out),
        "--max-steps",
        "3",
        "--workers",
        "2",
        "--no-progress",
    ]


def test_llm_run_over_openai_wire_completes_episodes_and_resumes(tmp_path, monkeypatch, capsys):
    clear_llm_env(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "run"
    reply = "Reason: the goal may be ahead.\nAction: go forward"
    with OpenAIStubServer([reply]) as srv:
        assert cli_main(_argv(out, srv.base_url)) == 0
        first_requests = len(srv.requests)
        recs = latest_records(out)
        assert len(recs) == 2
        for r in recs.values():
            assert r.error is None and r.policy == "llm:openai:gpt-4o-mini"
            assert r.stop_reason in ("done", "max_steps")
            assert 1 <= r.steps <= 3 and r.input_tokens > 0 and r.output_tokens > 0
            steps = (out / r.steps_log).read_text().splitlines()
            assert [json.loads(s)["action"] for s in steps] == ["go forward"] * len(steps)
        assert first_requests == sum(
            len((out / r.steps_log).read_text().splitlines()) for r in recs.values()
        )
        assert "LLM policy openai:gpt-4o-mini" in capsys.readouterr().out

        # the same command again: nothing left to run, no request sent
        assert cli_main(_argv(out, srv.base_url)) == 0
        assert len(srv.requests) == first_requests

        # a fresh run dir sharing the response cache replays without the server
        out2 = tmp_path / "run2"
        argv = [*_argv(out2, srv.base_url), "--llm-cache", str(out / "llm_cache.sqlite")]
        assert cli_main(argv) == 0
        assert len(srv.requests) == first_requests
        again = latest_records(out2)
        assert {k: r.steps for k, r in again.items()} == {k: r.steps for k, r in recs.items()}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl"):
            assert SECRET not in path.read_text()
