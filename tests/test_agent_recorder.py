"""The agent loop's bookkeeping (agent/recorder.py) and stopping rules (agent/limits.py),
unit by unit; the loop itself is tested end to end in test_agent.py."""

from __future__ import annotations

import dataclasses

import pytest

from lbi_icl.agent.base import AgentConfig, EpisodeResult
from lbi_icl.agent.limits import Limits
from lbi_icl.agent.parse import ParsedAction
from lbi_icl.agent.recorder import NOTE_UNPARSABLE, EpisodeTotals, Outcome, history_note
from lbi_icl.envs.base import StepResult


def test_every_total_is_a_result_field_of_the_same_name() -> None:
    # EpisodeResult ignores unknown keyword fields, so a total it lacks would vanish silently
    names = {f.name for f in dataclasses.fields(EpisodeTotals)} - {"cost_unknown"}
    assert names <= set(EpisodeResult.model_fields), names - set(EpisodeResult.model_fields)


def test_result_fields_copy_the_totals_and_drop_an_unknown_cost() -> None:
    tot = EpisodeTotals(input_tokens=7, retrieval_latencies_s=[0.5], policy_calls=2)
    tot.add_call(EpisodeTotals(input_tokens=3, output_tokens=1), cached=True, cost=0.25, calls=1)
    fields = tot.result_fields()
    assert fields["input_tokens"] == 10 and fields["output_tokens"] == 1
    assert fields["cost_usd"] == 0.25 and fields["cached_calls"] == 1
    assert fields["policy_calls"] == 2 and "cost_unknown" not in fields
    fields["retrieval_latencies_s"].append(1.0)  # a copy, not the running list
    assert tot.retrieval_latencies_s == [0.5]
    tot.add_cost(None)
    assert tot.result_fields()["cost_usd"] is None
    tot.add_call(EpisodeTotals(), cached=False, cost=None, calls=0)  # no call: cost untouched
    assert tot.cost_usd == 0.25


def test_history_notes_for_unexecuted_answers() -> None:
    assert history_note(ParsedAction(parsed=False)) == NOTE_UNPARSABLE
    note = history_note(ParsedAction(parsed=True, action="fly", valid=False))
    assert note == "('fly' is not a valid action here, so nothing was done)"


def test_outcome_prefers_the_envs_success_and_keeps_the_last_score() -> None:
    out = Outcome()
    out.update(StepResult(observation="o", reward=1.0, done=False, info={"score": 0.5}))
    out.update(StepResult(observation="o", reward=0.0, done=True, info={"success": True}))
    assert out.success("done") and out.score == 0.5 and not out.success("error")
    bare = Outcome()
    bare.update(StepResult(observation="o", reward=1.0, done=True, info={"score": True}))
    assert bare.success("done") and bare.score is None  # a bool is not a score


@pytest.mark.parametrize(
    ("config", "totals", "done", "bad", "expected"),
    [
        (AgentConfig(max_steps=1), EpisodeTotals(policy_calls=1), True, 9, "done"),
        (
            AgentConfig(max_steps=1, max_unparsable=2),
            EpisodeTotals(policy_calls=1),
            False,
            2,
            "unparsable",
        ),
        (
            AgentConfig(max_steps=1, max_total_tokens=1),
            EpisodeTotals(policy_calls=1, input_tokens=5),
            False,
            0,
            "max_steps",
        ),
        (
            AgentConfig(max_total_tokens=5, max_cost_usd=0.1),
            EpisodeTotals(output_tokens=5, cost_usd=1.0),
            False,
            0,
            "token_limit",
        ),
        (
            AgentConfig(max_cost_usd=0.1, max_wall_s=0),
            EpisodeTotals(cost_usd=0.1),
            False,
            0,
            "cost_limit",
        ),
        (AgentConfig(max_wall_s=0), EpisodeTotals(), False, 0, "wall_time"),
        (AgentConfig(), EpisodeTotals(policy_calls=29), False, 2, None),
    ],
)
def test_limits_answer_in_their_documented_order(config, totals, done, bad, expected) -> None:
    limits = Limits(config, "t-1")
    for _ in range(bad):
        limits.answered(False)
    assert limits.stop_reason(totals, done=done) == expected


def test_an_executed_answer_resets_the_unparsable_count() -> None:
    limits = Limits(AgentConfig(max_unparsable=2), "t-1")
    limits.answered(False)
    limits.answered(True)
    limits.answered(False)
    assert limits.stop_reason(EpisodeTotals(), done=False) is None
