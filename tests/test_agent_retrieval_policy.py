"""The retrieval-only policy (no model): next action from retrieved windows, rank-weighted
and near-equal voting, the seeded fallback and loop guard, whole episodes with it (fakes,
BabyAI, a real index with real retrieval strategies), and make_policy's input checks."""

from __future__ import annotations

import difflib
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
from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.envs.base import StepResult
from lbi_icl.retrieval.base import RetrievalResult, RetrievedItem, StepContext
from tests.agent_fakes import ACTIONS, TASK, CorridorEnv, FixedRetriever

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
