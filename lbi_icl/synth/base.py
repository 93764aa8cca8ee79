"""Contracts of the synthesis pipeline's swappable stages."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from lbi_icl.data import Trajectory


class WindowInstruction(BaseModel):
    """An instruction that the window `parent.steps[start:end]` accomplishes."""

    model_config = ConfigDict(extra="forbid")

    instruction: str
    kind: Literal["abstract", "summarize"]
    writer: str  # e.g. 'llm:openai:gpt-4o', 'hindsight-babyai', 'template-scienceworld'


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
