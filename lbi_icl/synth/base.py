"""Contracts of the synthesis pipeline's swappable stages."""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from lbi_icl.data import Trajectory


class WindowInstruction(BaseModel):
    """An instruction that the window `parent.steps[start:end]` accomplishes."""

    model_config = ConfigDict(extra="forbid")

    instruction: str
    kind: Literal["abstract", "summarize"]
    writer: str  # e.g. 'llm:openai:gpt-4o', 'hindsight-babyai', 'template-scienceworld'
    # Optional machine-readable goal (e.g. BabyAI: {"kind": "pickup", "obj": ["key", "red"]})
    # that an environment check can verify by replaying the window; copied into the
    # example's `source["goal"]`.
    goal: dict[str, Any] | None = None


@runtime_checkable
class Relabeler(Protocol):
    """Backward construction: writes instructions for a window of a raw trajectory.

    The window is steps [start, end) of `parent`: observations o_start..o_end (o_end is
    `parent.steps[end].observation`, or `parent.final_observation` when end == len(steps))
    and actions a_{start+1}..a_end. Returning [] means "this window achieves nothing
    describable" and drops it.
    """

    name: str

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]: ...


@runtime_checkable
class WindowChecker(Protocol):
    """Filter stage: replays a window of a raw trajectory in the real environment from its
    start state and says whether `instruction` is really achieved there (e.g. BabyAI)."""

    name: str

    def check(
        self, parent: Trajectory, start: int, end: int, instruction: WindowInstruction
    ) -> bool: ...
