"""The prompt the LLM policy sees and the step logs: section layout and order, history
truncation, the valid-action list, what each StepLog records (retrieval, prompt hash,
query-writer tokens, seed), and fitting the prompt to the context window."""

from __future__ import annotations

import hashlib
import json

import pytest

from lbi_icl.agent.prompt import (
    SECTION_CURRENT,
    SECTION_HISTORY,
    SECTION_OBJECTIVE,
    SECTION_REFERENCE,
)
from lbi_icl.data import Step
from lbi_icl.prompts import default_template
from lbi_icl.retrieval.base import RetrievalResult, RetrievedItem
from tests.agent_fakes import FORWARD, CorridorEnv, FakeLLM, FixedRetriever, _run

# -- prompt and step logs ---------------------------------------------------------------------


def _reference() -> RetrievalResult:
    item = RetrievedItem(
        id="ex-1",
        score=0.9,
        rank=0,
        strategy="observation",
        query="cell 0",
        matched_step=0,
        span=(0, 1),
        instruction="EXAMPLE BLOCK: at cell 0 the agent turned",
        window=[Step(observation="You are at cell 0 of 3.", action="turn right")],
    )
    return RetrievalResult(strategy="observation", items=[item], queries={"observation": "cell 0"})


_PER_STEP = [
    SECTION_HISTORY,
    "Action: go forward",
    SECTION_CURRENT,
    "You are at cell 1 of 3.",
    "Answer with a reason and an action",
]
_OBJECTIVE = [SECTION_OBJECTIVE, "reach the end of the corridor"]
_EXAMPLES = [SECTION_REFERENCE, "EXAMPLE BLOCK"]


@pytest.mark.parametrize(
    ("layout", "order"),
    [
        (None, [*_OBJECTIVE, *_EXAMPLES, *_PER_STEP]),  # the default: stable_first
        ("stable_first", [*_OBJECTIVE, *_EXAMPLES, *_PER_STEP]),
        ("examples_first", [*_EXAMPLES, *_OBJECTIVE, *_PER_STEP]),  # the paper's
    ],
)
def test_prompt_layout_sections_in_order(layout: str | None, order: list[str]) -> None:
    llm = FakeLLM([FORWARD])
    extra = {} if layout is None else {"prompt_layout": layout}
    _, logs = _run(CorridorEnv(goal=3), llm, FixedRetriever(_reference()), **extra)
    system, user = llm.calls[1]
    assert (
        system.role == "system"
        and "Actions: go forward | turn left | turn right." in system.content
    )
    assert "Reason:" in system.content and "Action:" in system.content
    text = user.content
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions)
    # the step log names the template of the layout the prompt was rendered from
    used = default_template("agent_user", layout or "stable_first").sha256  # type: ignore[arg-type]
    assert logs[1].prompt_templates["agent_user"] == used


def test_reference_section_omitted_when_nothing_retrieved() -> None:
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=1), llm)
    assert SECTION_REFERENCE not in llm.calls[0][1].content
    assert "(no actions taken yet)" in llm.calls[0][1].content


def test_history_shows_last_steps_with_truncated_observations() -> None:
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=50, pad=100), llm, max_steps=6, history_steps=2, observation_chars=40)
    user = llm.calls[5][1].content
    history = user[user.index(SECTION_HISTORY) : user.index(SECTION_CURRENT)]
    assert "(3 earlier steps not shown)" in history
    assert "Step 4:" in history and "Step 5:" in history and "Step 3:" not in history
    assert "You are at cell 3 of 50." in history and "You are at cell 2 of 50." not in history
    assert "[... " in history and "more characters]" in history
    shown = [ln for ln in history.splitlines() if ln.startswith("Observation: ")]
    assert all(len(ln) < len("Observation: ") + 40 + 30 for ln in shown)
    # The current observation is not cut at observation_chars.
    assert user.split(SECTION_CURRENT, 1)[1].count("filler") == 100


def test_step_log_contents() -> None:
    llm = FakeLLM([FORWARD], cached=True)
    retriever = FixedRetriever(_reference())
    result, logs = _run(CorridorEnv(goal=2), llm, retriever)
    first = logs[0]
    assert first.strategy == "observation"
    assert first.queries == {"observation": "cell 0"}
    assert first.retrieved[0]["id"] == "ex-1" and first.retrieved[0]["score"] == 0.9
    assert first.retrieved[0]["strategy"] == "observation"
    assert first.prompt is not None
    payload = json.dumps(first.prompt, ensure_ascii=False, separators=(",", ":"))
    assert first.prompt_sha256 == hashlib.sha256(payload.encode()).hexdigest()
    assert first.raw_output == FORWARD and first.action == "go forward" and first.parsed
    assert first.observation == "You are at cell 0 of 2."
    assert first.next_observation == "You are at cell 1 of 2."
    assert first.cached and result.cached_calls == 2
    assert first.info == {"success": False, "score": 0.5}  # non-JSON values dropped
    assert min(first.retrieval_s, first.model_s, first.env_s) >= 0
    json.loads(first.model_dump_json())  # serializable for the runner's step logs
    # Retrieval saw the history so far.
    assert [len(c.history) for c in retriever.contexts] == [0, 1]
    assert retriever.resets == 1
    _, logs = _run(CorridorEnv(goal=1), FakeLLM([FORWARD]), log_prompts=False)
    assert logs[0].prompt is None and len(logs[0].prompt_sha256) == 64


def test_query_writer_tokens_are_metered() -> None:
    writer = FakeLLM(["a query"], tokens=(7, 3), cost=0.002)
    result, logs = _run(
        CorridorEnv(goal=2),
        FakeLLM([FORWARD], tokens=(10, 5), cost=0.01),
        FixedRetriever(query_llm=True),
        retrieval_llm=writer,
    )
    assert len(writer.calls) == 2
    assert (logs[0].retrieval_input_tokens, logs[0].retrieval_output_tokens) == (7, 3)
    assert (result.retrieval_input_tokens, result.retrieval_output_tokens) == (14, 6)
    assert (result.input_tokens, result.output_tokens) == (34, 16)
    assert result.cost_usd == pytest.approx(0.024)


def test_llm_policy_passes_episode_seed() -> None:
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=1), llm, seed=11)
    assert llm.params[0] is not None and llm.params[0].seed == 11


def test_valid_actions_listed_only_when_short_enough() -> None:
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=1), llm, list_valid_actions=3)
    user = llm.calls[0][1].content
    assert "## Valid actions\n- go forward\n- turn left\n- turn right" in user
    assert user.index("## Valid actions") > user.index(SECTION_CURRENT)
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=1), llm, list_valid_actions=2)
    assert "## Valid actions" not in llm.calls[0][1].content


# -- local-model robustness (issue 14) ---------------------------------------------------------


def test_prompt_is_fitted_to_the_context_and_answer_is_capped() -> None:
    llm = FakeLLM([FORWARD])
    result, logs = _run(
        CorridorEnv(goal=1),
        llm,
        FixedRetriever(_reference()),
        context_tokens=40 + 200,  # 216 tokens with the reference, 151 without
        max_output_tokens=40,
    )
    assert result.error is None and result.success
    assert llm.params[0] is not None and llm.params[0].max_tokens == 40
    _system, user = llm.calls[0]
    assert "EXAMPLE BLOCK" not in user.content  # the reference went first
    assert logs[0].fit_items_dropped == 1 and 0 < (logs[0].prompt_tokens_est or 0) <= 200


def test_a_prompt_that_cannot_fit_ends_the_episode_with_a_clear_error() -> None:
    result, _logs = _run(CorridorEnv(goal=1), FakeLLM([FORWARD]), context_tokens=60)
    assert result.stop_reason == "error" and result.policy_calls == 0
    assert result.error is not None and "PromptTooLongError" in result.error
    assert "without any retrieved example or history" in result.error
