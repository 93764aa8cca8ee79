"""The agent loop end to end, against in-test fakes (tests/agent_fakes.py): when an episode
stops, how component failures become error results, the exported trajectory, the real
scripted LLM, and AgentConfig validation."""

from __future__ import annotations

import pytest

from lbi_icl.agent import AgentConfig, StepLog, make_policy, run_episode
from lbi_icl.data import Trajectory
from lbi_icl.envs.base import Env
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval.base import Retriever
from tests.agent_fakes import FORWARD, TASK, CorridorEnv, FakeLLM, FixedRetriever, _run


def test_fakes_satisfy_the_protocols() -> None:
    assert isinstance(CorridorEnv(), Env)
    assert isinstance(FixedRetriever(), Retriever)
    assert isinstance(FakeLLM([FORWARD]), LLM)


# -- stopping --------------------------------------------------------------------------------


def test_stops_on_done_with_success_score_and_totals() -> None:
    env, llm = CorridorEnv(goal=3), FakeLLM([FORWARD], tokens=(10, 5), cost=0.01)
    result, logs = _run(env, llm)
    assert result.stop_reason == "done"
    assert result.success is True
    assert result.score == pytest.approx(1.0)
    assert result.steps == 3 and result.policy_calls == 3 and len(logs) == 3
    assert (result.input_tokens, result.output_tokens) == (30, 15)
    assert result.cost_usd == pytest.approx(0.03)
    assert env.received == ["go forward"] * 3
    assert logs[-1].done and logs[-1].reward == 1.0
    assert [log.step for log in logs] == [0, 1, 2]
    assert result.policy == "llm:fake:scripted"
    assert result.strategy == "fake"
    assert len(result.retrieval_latencies_s) == 3
    assert result.duration_s >= result.model_s + result.env_s


def test_stops_on_max_steps() -> None:
    result, logs = _run(CorridorEnv(goal=50), FakeLLM([FORWARD]), max_steps=4)
    assert (result.stop_reason, result.steps, result.policy_calls, len(logs)) == (
        "max_steps",
        4,
        4,
        4,
    )
    assert result.success is False
    assert result.score == pytest.approx(4 / 50)


def test_stops_on_token_limit() -> None:
    # 15 tokens per call: after 2 calls 30 >= 30, no third call.
    result, _ = _run(CorridorEnv(goal=50), FakeLLM([FORWARD], tokens=(10, 5)), max_total_tokens=30)
    assert (result.stop_reason, result.policy_calls) == ("token_limit", 2)
    result, _ = _run(CorridorEnv(goal=50), FakeLLM([FORWARD], tokens=(10, 5)), max_total_tokens=31)
    assert (result.stop_reason, result.policy_calls) == ("token_limit", 3)


def test_stops_on_cost_limit_and_unknown_cost_is_none() -> None:
    result, _ = _run(CorridorEnv(goal=50), FakeLLM([FORWARD], cost=0.01), max_cost_usd=0.025)
    assert (result.stop_reason, result.policy_calls) == ("cost_limit", 3)
    result, _ = _run(
        CorridorEnv(goal=50), FakeLLM([FORWARD], cost=None), max_steps=3, max_cost_usd=0.001
    )
    assert result.stop_reason == "max_steps"  # unknown prices cannot trip the cost limit
    assert result.cost_usd is None


def test_stops_on_wall_time() -> None:
    llm = FakeLLM([FORWARD], delay=0.03)
    result, _ = _run(CorridorEnv(goal=1000), llm, max_steps=1000, max_wall_s=0.1)
    assert result.stop_reason == "wall_time"
    assert 1 <= result.policy_calls < 50
    assert result.duration_s >= 0.1


def test_stops_on_consecutive_unparsable_output_without_stepping_env() -> None:
    env = CorridorEnv(goal=50)
    result, logs = _run(env, FakeLLM(["I am thinking about it."]), max_unparsable=3)
    assert (result.stop_reason, result.policy_calls, result.steps) == ("unparsable", 3, 0)
    assert env.received == []
    assert all(not log.parsed and not log.executed and log.action is None for log in logs)
    assert result.trajectory is not None and result.trajectory.steps == []


def test_unparsable_counter_resets_and_feedback_reaches_the_prompt() -> None:
    env = CorridorEnv(goal=50)
    llm = FakeLLM(["hmm", FORWARD, "hmm", FORWARD, "hmm", FORWARD])
    result, logs = _run(env, llm, max_unparsable=2, max_steps=6)
    assert result.stop_reason == "max_steps"
    assert [log.parsed for log in logs] == [False, True] * 3
    assert result.steps == 3 and env.received == ["go forward"] * 3
    # The next prompt says the answer was not understood (so a cached model does not repeat).
    assert "could not be parsed" in llm.calls[1][1].content


def test_invalid_action_is_rejected_or_passed_through() -> None:
    env = CorridorEnv(goal=50)
    result, logs = _run(env, FakeLLM(["Action: fly"]), max_unparsable=2)
    assert result.stop_reason == "unparsable"
    assert env.received == []
    assert logs[0].parsed and logs[0].valid is False and not logs[0].executed
    env = CorridorEnv(goal=50)
    result, logs = _run(env, FakeLLM(["Action: fly"]), max_steps=2, require_valid_action=False)
    assert result.stop_reason == "max_steps"
    assert env.received == ["fly", "fly"]


def test_matches_valid_action_spelling() -> None:
    env = CorridorEnv(goal=1)
    result, logs = _run(env, FakeLLM(["```\nREASON: go\nACTION: 'Go Forward.'\n```"]))
    assert result.success and env.received == ["go forward"]
    assert logs[0].reason == "go"


def test_success_falls_back_to_done_with_positive_reward() -> None:
    result, _ = _run(CorridorEnv(goal=2, report_success=False), FakeLLM([FORWARD]))
    assert result.stop_reason == "done" and result.success is True and result.score is None


# -- errors ----------------------------------------------------------------------------------


def test_env_exception_becomes_error_result_naming_task_and_step() -> None:
    result, logs = _run(CorridorEnv(goal=50, fail_at=2), FakeLLM([FORWARD]))
    assert result.stop_reason == "error" and result.success is False
    assert result.error is not None
    assert "walk-7" in result.error and "step 2" in result.error
    assert "simulator crashed" in result.error and "env.step" in result.error
    assert result.steps == 2 and len(logs) == 3
    assert logs[-1].error == result.error and logs[-1].raw_output == FORWARD
    assert result.input_tokens == 30  # the failing step's call is counted


@pytest.mark.parametrize(
    ("env", "retriever", "llm", "where"),
    [
        (CorridorEnv(fail_reset=True), FixedRetriever(), FakeLLM([FORWARD]), "env.reset"),
        (CorridorEnv(), FixedRetriever(fail=True), FakeLLM([FORWARD]), "retrieval"),
        (CorridorEnv(), FixedRetriever(), FakeLLM([FORWARD], exc=TimeoutError("slow")), "policy"),
    ],
)
def test_component_failures_never_raise(
    env: CorridorEnv, retriever: FixedRetriever, llm: FakeLLM, where: str
) -> None:
    result, _ = _run(env, llm, retriever)
    assert result.stop_reason == "error"
    assert (
        result.error is not None and where in result.error and "task walk-7 step 0" in result.error
    )


def test_wrong_return_types_become_errors() -> None:
    bad = FixedRetriever(lambda ctx: {"items": []})  # type: ignore[arg-type, return-value]
    result, logs = _run(CorridorEnv(), FakeLLM([FORWARD]), bad)
    assert result.stop_reason == "error" and result.error is not None
    assert "retrieval failed: TypeError" in result.error and logs[0].error == result.error


def test_keyboard_interrupt_propagates() -> None:
    with pytest.raises(KeyboardInterrupt):
        _run(CorridorEnv(), FakeLLM([FORWARD], exc=KeyboardInterrupt()))


# -- trajectory export ------------------------------------------------------------------------


def test_trajectory_export_is_a_valid_trajectory() -> None:
    llm = FakeLLM(["Reason: turn first\nAction: turn left", FORWARD])
    result, _ = _run(CorridorEnv(goal=2), llm, seed=3)
    traj = result.trajectory
    assert traj is not None
    again = Trajectory.model_validate_json(traj.model_dump_json())  # strict round trip
    assert again == traj
    assert traj.actions() == ["turn left", "go forward", "go forward"]
    assert (
        traj.steps[0].observation == "You are at cell 0 of 2."
        and traj.steps[0].thought == "turn first"
    )
    assert traj.final_observation == "You are at cell 2 of 2."
    assert traj.outcome == "success" and traj.source["kind"] == "agent_run"
    assert traj.metadata["task_id"] == "walk-7" and traj.metadata["strategy"] == "fake"
    assert traj.metadata["policy"] == "llm:fake:scripted" and traj.task_id == "walk-7"
    assert traj.env == "corridor" and traj.instruction == TASK.instruction
    failed, _ = _run(CorridorEnv(goal=50), FakeLLM([FORWARD]), max_steps=1)
    assert failed.trajectory is not None and failed.trajectory.outcome == "failure"


# -- with the real LLM layer and a real environment ------------------------------------------


def test_with_the_real_scripted_llm() -> None:
    from lbi_icl.llm import ScriptedLLM

    llm = ScriptedLLM(["Reason: start\nAction: turn left", FORWARD, FORWARD], name="agent-test")
    logs: list[StepLog] = []
    result = run_episode(
        CorridorEnv(goal=2),
        TASK,
        make_policy("llm", llm=llm),
        FixedRetriever(),
        config=AgentConfig(),
        seed=0,
        on_step=logs.append,
    )
    assert result.stop_reason == "done" and result.success
    assert result.policy == "llm:scripted:agent-test"
    assert [log.action for log in logs] == ["turn left", "go forward", "go forward"]


def test_agent_config_rejects_nonsense() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_unparsable"):
        AgentConfig(max_unparsable=0)
    with pytest.raises(ValidationError, match="history_steps"):
        AgentConfig(history_steps=-1)
    with pytest.raises(ValidationError, match="max_step"):
        AgentConfig(max_step=3)  # type: ignore[call-arg]  # typo: unknown field


# -- local-model robustness (issue 14) ---------------------------------------------------------


def test_parsed_and_valid_answers_are_counted_per_episode() -> None:
    answers = ["I think I should move.", "Reason: x\nAction: fly away", FORWARD]
    result, logs = _run(CorridorEnv(goal=1), FakeLLM(answers), max_unparsable=3)
    assert result.stop_reason == "done" and result.policy_calls == 3
    assert [log.parsed for log in logs] == [False, True, True]
    assert result.parsed_calls == 2 and result.valid_calls == 1
