"""Run budgets (`--max-cost`, `--max-tokens`) end to end: the real CLI, runner, agent loop,
Anthropic SDK client and BabyAI against the loopback stub. The run stops starting episodes
once it has spent its budget, episodes in flight finish, exit code 5 and the report say why,
and the same command with a higher budget resumes."""

from __future__ import annotations

import json

import pytest
from llm_servers import AnthropicStubServer, StubReply, clear_llm_env

from lbi_icl.cli import main as cli_main
from lbi_icl.runner import latest_records
from lbi_icl.runner.budget import Budget
from lbi_icl.runner.manifest import read_manifest
from lbi_icl.runner.report import build_report, report

pytestmark = pytest.mark.babyai

# $3/M input, $15/M output (claude-sonnet-4): 10,000 + 10 tokens = $0.03015 per call
REPLY = StubReply(
    text="Reason: maybe left.\nAction: turn left", input_tokens=10_000, output_tokens=10
)
PER_EPISODE = 3 * (10_000 * 3.0 + 10 * 15.0) / 1e6  # 3 steps, never solved


def _argv(out, base_url: str, *extra: str) -> list[str]:
    return [
        "run",
        "--env",
        "babyai",
        "--tasks",
        "6",
        "--policy",
        "llm",
        "--llm",
        "anthropic:claude-sonnet-4",
        "--llm-base-url",
        base_url,
        "--retrieval",
        "none",
        "--out",
        str(out),
        "--max-steps",
        "3",
        "--no-progress",
        *extra,
    ]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def test_budget_stop_then_resume_with_a_higher_budget(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    with AnthropicStubServer([REPLY]) as srv:
        # 2 episodes ($0.18) are under $0.20, the third crosses it: 3 of 6 not started
        code = cli_main(_argv(out, srv.base_url, "--max-cost", "0.20"))
        err = capsys.readouterr().err
        assert code == 5
        assert f"stopped at the budget: spent ${3 * PER_EPISODE:.4f} of --max-cost $0.20" in err
        assert "3 episode(s) not run" in err and "\n" not in err.strip().split("error: ")[-1]
        recs = latest_records(out)
        assert len(recs) == 3
        assert sum(r.cost_usd or 0 for r in recs.values()) == pytest.approx(3 * PER_EPISODE)
        session = read_manifest(out)["sessions"][-1]  # type: ignore[index]
        assert session["status"] == "budget"
        assert session["budget"]["spent_usd"] == pytest.approx(3 * PER_EPISODE, abs=1e-6)
        rep = build_report(out)
        assert rep.run_notes and rep.run_notes[0].startswith("stopped at the budget")
        assert "stopped at the budget" in report(out, "md")
        calls = len(srv.requests)
        assert calls == 9

        # the same budget again: nothing starts, the same answer
        assert cli_main(_argv(out, srv.base_url, "--max-cost", "0.20")) == 5
        assert len(srv.requests) == calls

        # a higher budget resumes the rest
        assert cli_main(_argv(out, srv.base_url, "--max-cost", "1.00")) == 0
        assert len(latest_records(out)) == 6
        assert read_manifest(out)["sessions"][-1]["status"] == "complete"  # type: ignore[index]
        assert build_report(out).run_notes == []


def test_token_budget_and_in_flight_episodes_finish(tmp_path, capsys) -> None:
    """With 3 workers, the episodes running when the budget is reached are recorded."""
    out = tmp_path / "run"
    with AnthropicStubServer([REPLY]) as srv:
        code = cli_main(_argv(out, srv.base_url, "--max-tokens", "30000", "--workers", "3"))
        assert code == 5
        recs = latest_records(out)
        # the first 3 episodes were all in flight when the budget (3 calls) was reached
        assert len(recs) == 3 and all(r.error is None and r.steps == 3 for r in recs.values())
        assert "used 90090 tokens of --max-tokens 30000" in capsys.readouterr().err


def test_cost_budget_needs_priced_models(tmp_path, capsys) -> None:
    with AnthropicStubServer([REPLY]) as srv:
        argv = _argv(tmp_path / "run", srv.base_url, "--max-cost", "1")
        argv[argv.index("anthropic:claude-sonnet-4")] = "anthropic:my-own-model"
        assert cli_main(argv) == 1
        assert srv.requests == []
    err = capsys.readouterr().err.strip()
    assert "--max-cost needs the price of anthropic:my-own-model" in err
    assert len(err.splitlines()) == 1


def test_budget_counts_every_record_of_the_run() -> None:
    from lbi_icl.agent.base import EpisodeResult

    def rec(cost: float | None, tokens: int) -> EpisodeResult:
        return EpisodeResult(
            task_id="t",
            env="e",
            strategy="none",
            policy="p",
            seed=0,
            success=False,
            steps=1,
            input_tokens=tokens,
            cost_usd=cost,
            stop_reason="max_steps",
        )

    b = Budget(1.0, None, [rec(0.4, 10), rec(None, 10), rec(0.7, 10)])
    assert b.exhausted() == "spent $1.1000 of --max-cost $1.00"
    assert b.unpriced == 1 and b.tokens == 30
    assert list(b.gate([1, 2])) == [] and b.stop is not None and b.stop.not_started == 2
    assert list(Budget(None, None).gate([1, 2])) == [1, 2]
    assert json.dumps(b.describe())
