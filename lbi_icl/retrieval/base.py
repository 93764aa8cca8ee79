"""The retrieval protocol shared by every strategy (none, rag, instruction, observation,
model, agentic) and the value types the agent loop logs and the prompt builder renders
(`retrieval/render.py`): retrieval returns typed items, never prompt text."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.llm.base import LLM

# characters of each example observation the prompt shows (RetrievalConfig's default)
DEFAULT_OBSERVATION_CHARS = 600


class StepContext(BaseModel):
    """What a strategy may look at when the agent is about to act."""

    model_config = ConfigDict(extra="forbid")

    instruction: str
    observation: str
    history: list[Step] = Field(default_factory=list)
    step: int = 0
    task_id: str | None = None
    env: str | None = None

    @classmethod
    def at(cls, traj: Trajectory, i: int) -> StepContext:
        """The context at step `i` of a recorded trajectory (held-out evaluation): its
        observation, the steps before it as history."""
        return cls(
            instruction=traj.instruction,
            observation=traj.steps[i].observation,
            history=list(traj.steps[:i]),
            step=i,
            task_id=traj.task_id,
            env=traj.env,
        )


class RetrievedItem(BaseModel):
    """One hit: an example (trajectory window) or a documentation chunk."""

    id: str
    kind: Literal["example", "document"] = "example"
    score: float
    rank: int
    strategy: str  # the strategy that found it: observation | model | instruction | rag
    query: str
    query_writer: str | None = None  # model-based only: 'llm:<spec>' or 'template'
    matched_step: int | None = None
    span: tuple[int, int] | None = None  # steps [start, end) of the example shown
    instruction: str | None = None  # the example's instruction (documents: the title)
    window: list[Step] = Field(default_factory=list)  # the steps in `span`, for policies
    # examples whose window reaches the end: the example's last observation and outcome
    final_observation: str | None = None
    outcome: str | None = None
    text: str | None = None  # documents: the chunk text
    tokens: int = 0  # estimated tokens of the rendered item (the retrieval token budget's)


class RetrievalResult(BaseModel):
    """What one retrieval call produced: the items in rank order, to log, to vote on
    (retrieval policy) and for the prompt builder to render and shrink (agent/fit.py)."""

    strategy: str
    items: list[RetrievedItem] = Field(default_factory=list)
    dropped: list[RetrievedItem] = Field(default_factory=list)  # cut by the token budget
    queries: dict[str, str] = Field(default_factory=dict)
    # characters of each example observation the prompt shows (max_observation_chars)
    observation_chars: int = DEFAULT_OBSERVATION_CHARS
    latency_s: float = 0.0
    llm_latency_s: float = 0.0  # query-writing LLM time, excluded from retrieval latency


@runtime_checkable
class Retriever(Protocol):
    name: str

    def reset(self, task: Task) -> None:
        """Start of an episode (instruction-based and RAG fix their results here)."""
        ...

    def retrieve(self, ctx: StepContext, llm: LLM | None = None) -> RetrievalResult: ...
