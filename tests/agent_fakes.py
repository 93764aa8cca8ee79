"""In-test fakes shared by the agent-loop tests (tests/test_agent*.py): a corridor
environment, a fixed retriever and a scripted LLM, and `_run`, one episode with them."""

from __future__ import annotations

import time
from collections.abc import Callable

from lbi_icl.agent import AgentConfig, EpisodeResult, StepLog, make_policy, run_episode
from lbi_icl.data import Document, Task, Trajectory
from lbi_icl.envs.base import StepResult
from lbi_icl.llm.base import LLM, GenerationParams, LLMResponse, Message, Usage
from lbi_icl.retrieval.base import RetrievalResult, StepContext

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
