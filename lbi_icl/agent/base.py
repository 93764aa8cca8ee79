"""Contract between the agent loop and the runner: episode config, step log, result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.data import Trajectory

StopReason = Literal[
    "done", "max_steps", "token_limit", "cost_limit", "wall_time", "unparsable", "error"
]


class AgentConfig(BaseModel):
    """Limits and prompt settings of one episode."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = 30
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    max_wall_s: float | None = None
    max_unparsable: int = 3  # consecutive unparsable outputs before giving up
    history_steps: int = 5  # last N steps shown in the prompt
    observation_chars: int = 2000  # long observations are truncated to this many chars
    log_prompts: bool = True


class StepLog(BaseModel):
    """Everything needed to trace one step back to what the model saw."""

    step: int
    observation: str
    strategy: str
    queries: dict[str, str] = Field(default_factory=dict)
    retrieved: list[dict[str, Any]] = Field(default_factory=list)  # id, score, strategy
    prompt_sha256: str
    prompt: list[dict[str, str]] | None = None
    raw_output: str
    action: str | None
    parsed: bool
    next_observation: str | None = None
    reward: float | None = None
    done: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cached: bool = False
    retrieval_s: float = 0.0
    model_s: float = 0.0
    env_s: float = 0.0


class EpisodeResult(BaseModel):
    """One line of a run's episodes.jsonl."""

    task_id: str
    env: str
    strategy: str
    policy: str
    seed: int
    success: bool
    score: float | None = None
    steps: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cached_calls: int = 0
    duration_s: float = 0.0
    retrieval_s: float = 0.0
    model_s: float = 0.0
    env_s: float = 0.0
    retrieval_latencies_s: list[float] = Field(default_factory=list)
    stop_reason: StopReason
    error: str | None = None
    trajectory: Trajectory | None = None
