"""The data contract every part of lbi_icl shares: steps, trajectories, documents, tasks.

Synthetic examples, expert demonstrations and the agent's own logged runs are all
`Trajectory` objects, so anything a run produces can be indexed again. Models are strict:
unknown fields and wrong types are errors, never silently dropped or coerced.

The models live here, in the package itself, so `from lbi_icl.data import Trajectory` names
the contract; the modules beside them read and write it: `jsonl.py` (JSON Lines),
`checks.py` (the checks every data input passes), `dataset_io.py` (Parquet and Hugging Face
folders), `stats.py` (counts over trajectory files).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["success", "failure", "unknown"]
SourceKind = Literal["expert", "rollout", "backward", "agent_run"]
InstructionKind = Literal["original", "abstract", "summarize"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Step(_Strict):
    """One observation and the action the agent took in it."""

    observation: str
    action: str
    thought: str | None = None
    reward: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)


class Trajectory(_Strict):
    """`o0, a1, o1, ..., an, on`: step i holds o_i and the action taken in it;
    `final_observation` is o_n.

    `source` records provenance, by convention with keys `kind` (expert | rollout |
    backward | agent_run), `parent_id`, `span` ([start, end] step window in the parent),
    `instruction_kind` (original | abstract | summarize) and `writer` (model or relabeler).
    """

    id: str = Field(min_length=1)
    env: str = Field(min_length=1)
    instruction: str
    steps: list[Step]
    final_observation: str | None = None
    outcome: Outcome = "unknown"
    source: dict[str, Any] = Field(default_factory=dict)
    split: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def source_kind(self) -> str | None:
        kind = self.source.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def task_id(self) -> str | None:
        """The benchmark task this trajectory came from, if recorded (leakage guard key)."""
        value = self.metadata.get("task_id", self.source.get("task_id"))
        return str(value) if value is not None else None

    def observations(self) -> list[str]:
        """All observations o_0..o_n (final observation included when present)."""
        obs = [s.observation for s in self.steps]
        if self.final_observation is not None:
            obs.append(self.final_observation)
        return obs

    def actions(self) -> list[str]:
        return [s.action for s in self.steps]


class Document(_Strict):
    """A piece of environment documentation: input to self-instruct and the RAG baseline."""

    id: str = Field(min_length=1)
    env: str = Field(min_length=1)
    title: str
    text: str
    source: dict[str, Any] = Field(default_factory=dict)


class Task(_Strict):
    """A benchmark task an environment can reset to."""

    id: str = Field(min_length=1)
    env: str = Field(min_length=1)
    instruction: str
    split: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
