"""The agent loop and the policies, against in-test fakes (no model, no real environment)."""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lbi_icl.agent import (
    RETRIEVAL_POLICY_NAME,
    AgentConfig,
    EpisodeResult,
    StepLog,
    make_policy,
    run_episode,
)
from lbi_icl.agent.policies import PolicyInput, RetrievalPolicy
from lbi_icl.agent.prompt import (
    SECTION_CURRENT,
    SECTION_HISTORY,
    SECTION_OBJECTIVE,
    SECTION_REFERENCE,
)
from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs.base import Env, StepResult
from lbi_icl.llm.base import LLM, GenerationParams, LLMResponse, Message, Usage
from lbi_icl.prompts import default_template
from lbi_icl.retrieval.base import RetrievalResult, RetrievedItem, Retriever, StepContext

ACTIONS = ["go forward", "turn left", "turn right"]
FORWARD = "Reason: the way is clear\nAction: go forward"


class CorridorEnv:
    """Walk `goal` cells forward. Turning does nothing. Observations name the position."""

    name = "corridor"

    def __init__(
        self,
        goal: int = 3,
        *,
        fail_at: int | None = None,
        fail_reset: bool = False,
        list_actions: bool = True,
        pad: int = 0,
        report_success: bool = True,
    ) -> None:
        self.goal, self.fail_at, self.fail_reset = goal, fail_at, fail_reset
        self.list_actions, self.pad, self.report_success = list_actions, pad, report_success
        self.pos = 0
        self.received: list[str] = []

    def _obs(self) -> str:
        return f"You are at cell {self.pos} of {self.goal}." + " filler" * self.pad

    def tasks(self, split: str) -> list[Task]:
        return [
            Task(id=f"walk-{i}", env=self.name, instruction="reach the end", split=split)
            for i in range(3)
        ]

    def reset(self, task: Task) -> str:
        if self.fail_reset:
            raise RuntimeError("simulator did not start")
        self.pos, self.received = 0, []
        return self._obs()

    def step(self, action: str) -> StepResult:
        if self.fail_at is not None and len(self.received) == self.fail_at:
            raise RuntimeError("simulator crashed")
        self.received.append(action)
        if action == "go forward":
            self.pos += 1
        done = self.pos >= self.goal
        info = {"success": done, "score": self.pos / self.goal} if self.report_success else {}
        return StepResult(
            observation=self._obs(),
            reward=1.0 if done else 0.0,
            done=done,
            info=info | {"unserializable": object()},
        )

    def action_space_text(self) -> str:
        return "Actions: go forward | turn left | turn right."

    def valid_actions(self) -> list[str] | None:
        return list(ACTIONS) if self.list_actions else None

    def documents(self) -> list[Document]:
        return []

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        return None

    def close(self) -> None:
        pass


class FixedRetriever:
    """Returns the same result every step (or one built from the step context)."""

    def __init__(
        self,
        result: RetrievalResult | Callable[[StepContext], RetrievalResult] | None = None,
        *,
        name: str = "fake",
        fail: bool = False,
        query_llm: bool = False,
    ) -> None:
        self.name, self.fail, self.query_llm = name, fail, query_llm
        self.result = result if result is not None else RetrievalResult(strategy=name)
        self.contexts: list[StepContext] = []
        self.resets = 0

    def reset(self, task: Task) -> None:
        self.resets += 1

    def retrieve(self, ctx: StepContext, llm: LLM | None = None) -> RetrievalResult:
        self.contexts.append(ctx)
        if self.fail:
            raise ValueError("index is corrupt")
        if self.query_llm:
            assert llm is not None
            llm.complete([Message(role="user", content=f"write a query for {ctx.observation}")])
        return self.result(ctx) if callable(self.result) else self.result


class FakeLLM:
    """Scripted answers in order (the last repeats); fixed usage and cost per call."""

    def __init__(
        self,
        responses: list[str],
        *,
        tokens: tuple[int, int] = (10, 5),
        cost: float | None = 0.01,
        delay: float = 0.0,
        cached: bool = False,
        exc: BaseException | None = None,
    ) -> None:
        self.spec = "fake:scripted"
        self.responses, self.tokens, self.cost = responses, tokens, cost
        self.delay, self.cached, self.exc = delay, cached, exc
        self.calls: list[list[Message]] = []
        self.params: list[GenerationParams | None] = []

    def complete(
        self, messages: list[Message], params: GenerationParams | None = None
    ) -> LLMResponse:
        if self.exc is not None:
            raise self.exc
        self.calls.append(messages)
        self.params.append(params)
        if self.delay:
            time.sleep(self.delay)
        text = self.responses[min(len(self.calls) - 1, len(self.responses) - 1)]
        return LLMResponse(
            text=text,
            usage=Usage(input_tokens=self.tokens[0], output_tokens=self.tokens[1]),
            cost_usd=self.cost,
            cached=self.cached,
            model="scripted",
            backend="fake",
        )


TASK = Task(id="walk-7", env="corridor", instruction="reach the end of the corridor", split="test")


def _run(
    env: CorridorEnv,
    llm: FakeLLM,
    retriever: FixedRetriever | None = None,
    *,
    seed: int = 0,
    retrieval_llm: LLM | None = None,
    **cfg: object,
) -> tuple[EpisodeResult, list[StepLog]]:
    logs: list[StepLog] = []
    result = run_episode(
        env,
        TASK,
        make_policy("llm", llm=llm),
        retriever or FixedRetriever(),
        config=AgentConfig(**cfg),  # type: ignore[arg-type]
        seed=seed,
        retrieval_llm=retrieval_llm,
        on_step=logs.append,
    )
    return result, logs


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


# -- the retrieval-only policy ---------------------------------------------------------------


def _item(rank: int, actions: list[str], matched: int | None, start: int = 0) -> RetrievedItem:
    window = [
        Step(observation=f"You are at cell {start + i} of 3.", action=a)
        for i, a in enumerate(actions)
    ]
    return RetrievedItem(
        id=f"ex-{rank}",
        score=1.0 / (rank + 1),
        rank=rank,
        strategy="observation",
        query="q",
        matched_step=matched,
        span=(start, start + len(actions)),
        window=window,
    )


def _choose(
    items: list[RetrievedItem],
    *,
    seed: int = 0,
    observation: str = "You are at cell 0 of 3.",
    valid: list[str] | None = ACTIONS,
    step: int = 0,
    call: int = 0,
    episode_seed: int = 0,
) -> str:
    policy = make_policy("retrieval", seed=seed)
    ctx = StepContext(instruction="x", observation=observation, step=step)
    out = policy.act(
        PolicyInput(
            messages=[],
            context=ctx,
            retrieval=RetrievalResult(strategy="s", items=items),
            valid_actions=valid,
            seed=episode_seed,
            task_id=TASK.id,
            call=call,
        )
    )
    assert out.input_tokens == 0 and out.cost_usd == 0.0
    return out.text.split("Action: ", 1)[1] if "Action: " in out.text else ""


def test_retrieval_policy_takes_the_next_action_at_the_matched_position() -> None:
    # Window covers steps 2..4 of the example; matched step 3 -> the window's 2nd action.
    assert _choose([_item(0, ["turn left", "Turn Right.", "go forward"], matched=3, start=2)]) == (
        "turn right"
    )
    # A match outside the window has no next action: falls back to a random valid action.
    assert _choose([_item(0, ["turn left"], matched=9)]) in ACTIONS


def test_retrieval_policy_rank_weighted_vote() -> None:
    top = _item(0, ["turn left"], 0)
    b = [_item(r, ["go forward"], 0) for r in (1, 2, 3)]
    assert _choose([top, b[0], b[1]]) == "turn left"  # 1 > 1/2 + 1/3
    assert _choose([top, *b]) == "go forward"  # 1 < 1/2 + 1/3 + 1/4
    assert _choose(list(reversed([top, *b]))) == "go forward"  # rank, not list order, counts


def test_retrieval_policy_near_equal_actions() -> None:
    valid = ["open door to kitchen", "open door to hallway", "look around"]
    # 'opens door to kitchen' is near-equal to one valid action: it gets weight * ratio.
    assert _choose([_item(0, ["opens door to kitchen"], 0)], valid=valid) == "open door to kitchen"
    near = _item(0, ["opens door to kitchen"], 0)
    exact = _item(1, ["look around"], 0)  # 1/2 < 1 * ratio (~0.98)
    assert _choose([near, exact], valid=valid) == "open door to kitchen"
    # Far from every valid action: no vote, random fallback among the valid actions.
    policy = RetrievalPolicy(min_similarity=0.8)
    ctx = StepContext(instruction="x", observation="o")
    res = RetrievalResult(strategy="s", items=[_item(0, ["eat the plant"], 0)])
    assert policy.vote(res, ctx, valid) == {}
    strict = RetrievalPolicy(min_similarity=1.01)
    res = RetrievalResult(strategy="s", items=[_item(0, ["opens door to kitchen"], 0)])
    assert strict.vote(res, ctx, valid) == {}
    assert policy.vote(res, ctx, valid)["open door to kitchen"] == pytest.approx(
        difflib.SequenceMatcher(None, "opens door to kitchen", "open door to kitchen").ratio()
    )


def test_retrieval_policy_instruction_hits_match_position_by_observation() -> None:
    item = _item(0, ["turn left", "turn right", "go forward"], matched=None)
    assert _choose([item], observation="You are at cell 2 of 3.") == "go forward"
    assert _choose([item], observation="You are at cell 1 of 3.") == "turn right"


def test_retrieval_policy_fallback_is_seeded() -> None:
    def walk(seed: int, episode_seed: int = 0) -> list[str]:
        return [_choose([], seed=seed, episode_seed=episode_seed, call=c) for c in range(6)]

    picks = [walk(s) for s in range(6)]
    assert picks == [walk(s) for s in range(6)]  # same seeds, same choices
    assert all(a in ACTIONS for p in picks for a in p)
    assert len({tuple(p) for p in picks}) > 1  # the policy seed matters
    assert len({tuple(walk(0, e)) for e in range(6)}) > 1  # so does the episode seed
    assert len(set(picks[0])) > 1  # and choices vary along an episode
    # Without valid actions and nothing retrieved there is no action at all.
    assert _choose([], valid=None) == ""
    assert _choose([_item(0, ["jump high"], 0)], valid=None) == "jump high"


def test_retrieval_policy_loop_guard() -> None:
    here = "You are at cell 0 of 3."
    history = [
        Step(observation=here, action="go forward"),
        Step(observation="x", action="turn left"),
    ]
    ctx = StepContext(instruction="x", observation=here, history=history, step=2)
    items = [_item(0, ["go forward"], 0), _item(1, ["turn right"], 0)]
    res = RetrievalResult(strategy="s", items=items)
    # 'go forward' was already tried from this very observation: the vote skips it.
    assert RetrievalPolicy().vote(res, ctx, ACTIONS) == {"turn right": 0.5}
    assert RetrievalPolicy(avoid_repeats=False).vote(res, ctx, ACTIONS)["go forward"] == 1.0
    # The random fallback prefers untried actions, and uses all when every one was tried.
    policy = RetrievalPolicy()
    empty = RetrievalResult(strategy="s")
    for call in range(10):
        out = policy.act(
            PolicyInput(messages=[], context=ctx, retrieval=empty, valid_actions=ACTIONS, call=call)
        )
        assert "Action: go forward" not in out.text
    tried_all = [Step(observation=here, action=a) for a in ACTIONS]
    ctx_all = StepContext(instruction="x", observation=here, history=tried_all, step=3)
    out = policy.act(
        PolicyInput(messages=[], context=ctx_all, retrieval=empty, valid_actions=ACTIONS)
    )
    assert out.text.split("Action: ")[1] in ACTIONS


def test_retrieval_policy_runs_an_episode_deterministically() -> None:
    def windows(ctx: StepContext) -> RetrievalResult:
        pos = int(ctx.observation.split("cell ")[1].split()[0])
        return RetrievalResult(strategy="observation", items=[_item(0, ["go forward"], pos, pos)])

    def episode(seed: int) -> EpisodeResult:
        policy = make_policy("retrieval", seed=seed)
        return run_episode(
            CorridorEnv(goal=3),
            TASK,
            policy,
            FixedRetriever(windows),
            config=AgentConfig(),
            seed=seed,
        )

    result = episode(0)
    assert result.stop_reason == "done" and result.success and result.steps == 3
    assert result.policy == RETRIEVAL_POLICY_NAME
    assert result.input_tokens == 0 and result.cost_usd == 0.0

    def random_walk(seed: int) -> list[str]:
        policy = make_policy("retrieval", seed=seed)
        res = run_episode(
            CorridorEnv(goal=50),
            TASK,
            policy,
            FixedRetriever(),
            config=AgentConfig(max_steps=8),
            seed=seed,
        )
        assert res.trajectory is not None
        return res.trajectory.actions()

    assert random_walk(5) == random_walk(5)
    assert len({tuple(random_walk(s)) for s in range(4)}) > 1


def test_make_policy_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="needs an LLM"):
        make_policy("llm")
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("oracle")  # type: ignore[arg-type]
    assert isinstance(make_policy("retrieval"), RetrievalPolicy)


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


@pytest.mark.babyai
def test_babyai_episode_with_retrieval_policy() -> None:
    from lbi_icl.envs import make_env

    env = make_env("babyai", levels="BabyAI-GoToRedBallGrey-v0")
    try:
        task = env.tasks("test", limit=1)[0]
        logs: list[StepLog] = []
        result = run_episode(
            env,
            task,
            make_policy("retrieval", seed=1),
            FixedRetriever(),
            config=AgentConfig(max_steps=12),
            seed=1,
            on_step=logs.append,
        )
    finally:
        env.close()
    assert result.stop_reason in {"done", "max_steps"}
    assert result.error is None and all(log.executed and log.valid for log in logs)
    assert result.trajectory is not None
    assert len(result.trajectory.steps) == result.steps == len(logs)
    assert result.trajectory.final_observation == logs[-1].next_observation
    assert result.trajectory.metadata["policy"] == RETRIEVAL_POLICY_NAME


def test_valid_actions_listed_only_when_short_enough() -> None:
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=1), llm, list_valid_actions=3)
    user = llm.calls[0][1].content
    assert "## Valid actions\n- go forward\n- turn left\n- turn right" in user
    assert user.index("## Valid actions") > user.index(SECTION_CURRENT)
    llm = FakeLLM([FORWARD])
    _run(CorridorEnv(goal=1), llm, list_valid_actions=2)
    assert "## Valid actions" not in llm.calls[0][1].content


def test_agent_config_rejects_nonsense() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_unparsable"):
        AgentConfig(max_unparsable=0)
    with pytest.raises(ValidationError, match="history_steps"):
        AgentConfig(history_steps=-1)
    with pytest.raises(ValidationError, match="max_step"):
        AgentConfig(max_step=3)  # type: ignore[call-arg]  # typo: unknown field


# -- with a real index and real retrieval strategies -----------------------------------------

ROOMS = ["amber", "birch", "cedar", "dune"]
CODE = ["turn left", "go forward", "turn right", "go forward"]  # the one move out of each room


class LockEnv(CorridorEnv):
    """Each room has one exit move (CODE); any other move stays put."""

    name = "lock"

    def _obs(self) -> str:
        if self.pos >= len(ROOMS):
            return "You are outside. The doors are behind you."
        return f"You are in the {ROOMS[self.pos]} room. Doors lead in several directions."

    def step(self, action: str) -> StepResult:
        self.received.append(action)
        if action == CODE[self.pos]:
            self.pos += 1
        done = self.pos >= len(ROOMS)
        return StepResult(
            observation=self._obs(), reward=float(done), done=done, info={"success": done}
        )


def _demo(i: int) -> Trajectory:
    env = LockEnv(goal=len(ROOMS))
    steps = []
    obs = env.reset(TASK)
    for action in CODE:
        steps.append(Step(observation=obs, action=action))
        obs = env.step(action).observation
    return Trajectory(
        id=f"demo-{i}",
        env="lock",
        instruction="leave the building",
        steps=steps,
        final_observation=obs,
        outcome="success",
        metadata={"task_id": f"train-{i}"},
    )


def test_retrieval_policy_with_a_real_index(tmp_path: Path) -> None:
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index import build_index_from, load_index
    from lbi_icl.retrieval import make_retriever

    build_index_from([_demo(i) for i in range(3)], tmp_path / "idx", embedder=HashEmbedder())
    index = load_index(tmp_path / "idx", embedder=HashEmbedder())
    task = Task(id="test-0", env="lock", instruction="leave the building")
    config = AgentConfig(max_steps=len(ROOMS))
    results = {}
    for strategy in ("none", "instruction", "observation", "agentic"):
        retriever = make_retriever(strategy, None if strategy == "none" else index)
        results[strategy] = run_episode(
            LockEnv(), task, make_policy("retrieval", seed=0), retriever, config=config, seed=0
        )
    for strategy in ("instruction", "observation", "agentic"):
        res = results[strategy]
        assert res.success and res.steps == len(ROOMS), (strategy, res.stop_reason, res.error)
        assert res.trajectory is not None and res.trajectory.actions() == CODE
    assert not results["none"].success  # random moves (seed 0) do not find the code in 4 steps


# -- local-model robustness (issue 14) ---------------------------------------------------------


def test_parsed_and_valid_answers_are_counted_per_episode() -> None:
    answers = ["I think I should move.", "Reason: x\nAction: fly away", FORWARD]
    result, logs = _run(CorridorEnv(goal=1), FakeLLM(answers), max_unparsable=3)
    assert result.stop_reason == "done" and result.policy_calls == 3
    assert [log.parsed for log in logs] == [False, True, True]
    assert result.parsed_calls == 2 and result.valid_calls == 1


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
