"""Hindsight relabeler for BabyAI: reads what a window achieved from the events the
environment recorded in each step's `info` and writes it in BabyAI's own mission language.

- abstract: the goal the window's *last* action achieves (put X next to Y > open X >
  pick up X > go to X), optionally preceded by an earlier achievement in the window
  ("pick up the blue key, then open the blue door"). A window whose last action achieves
  nothing gets no abstract instruction: its tail would be a detour.
- summarize: the actions in order, repeated ones collapsed, each achievement noted
  ("turn left, go forward 2 times, go forward (reached the red ball), ...").

Every abstract instruction carries a machine-readable `goal` that
`lbi_icl.synth.check_babyai` verifies with minigrid's own instruction verifiers.
Articles follow BabyAI: "the red ball" when the level holds one, "a red ball" when several.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lbi_icl.data import Step, Trajectory
from lbi_icl.envs.babyai_text import event_text
from lbi_icl.synth.base import WindowInstruction

WRITER = "hindsight-babyai"
_PRIORITY = {"put_next": 0, "open": 1, "pickup": 2, "goto": 3}
_ACHIEVEMENTS = frozenset(_PRIORITY)


def _final_event(step: Step) -> dict[str, Any] | None:
    events = [e for e in step.info.get("events", []) if e.get("event") in _ACHIEVEMENTS]
    if not events:
        return None
    return min(events, key=lambda e: _PRIORITY[e["event"]])


def goal_from_event(ev: dict[str, Any]) -> dict[str, Any]:
    goal = {"kind": ev["event"], "obj": list(ev["obj"])}
    if ev["event"] == "put_next":
        goal["target"] = list(ev["target"])
    return goal


def _desc(obj: list[str], counts: Counter[tuple[str, str]] | None) -> str:
    kind, color = obj
    n = counts.get((kind, color), 1) if counts is not None else 1
    return f"{'a' if n > 1 else 'the'} {color} {kind}"


def goal_text(goal: dict[str, Any], counts: Counter[tuple[str, str]] | None = None) -> str:
    """BabyAI mission language for a goal (nested 'then' goals included)."""
    kind = goal["kind"]
    if kind == "then":
        return f"{goal_text(goal['first'], counts)}, then {goal_text(goal['second'], counts)}"
    obj = _desc(goal["obj"], counts)
    if kind == "goto":
        return f"go to {obj}"
    if kind == "pickup":
        return f"pick up {obj}"
    if kind == "open":
        return f"open {obj}"
    if kind == "put_next":
        return f"put {obj} next to {_desc(goal['target'], counts)}"
    raise ValueError(f"unknown BabyAI goal kind {kind!r}")


def abstract_goal(steps: list[Step]) -> dict[str, Any] | None:
    """The goal achieved by the window's last action, with at most one earlier clause."""
    if not steps:
        return None
    last = _final_event(steps[-1])
    if last is None:
        return None
    goal = goal_from_event(last)
    for step in reversed(steps[:-1]):
        ev = _final_event(step)
        if ev is None or ev["event"] == "goto":
            continue
        first = goal_from_event(ev)
        redundant = first == goal or (
            first["kind"] == "pickup" and goal["kind"] == "put_next" and first["obj"] == goal["obj"]
        )
        if not redundant:
            goal = {"kind": "then", "first": first, "second": goal}
        break
    return goal


def summary_text(steps: list[Step]) -> str:
    """Actions in order, consecutive repeats without events collapsed, events noted."""
    parts: list[str] = []
    run_action, run_len = "", 0

    def flush() -> None:
        if run_len:
            parts.append(run_action if run_len == 1 else f"{run_action} {run_len} times")

    for s in steps:
        notes = [
            event_text(e)
            for e in s.info.get("events", [])
            if e.get("event") != "drop"
            or not any(x.get("event") == "put_next" for x in s.info.get("events", []))
        ]
        if notes:
            flush()
            run_action, run_len = "", 0
            parts.append(f"{s.action} ({'; '.join(notes)})")
        elif s.action == run_action:
            run_len += 1
        else:
            flush()
            run_action, run_len = s.action, 1
    flush()
    return ", ".join(parts) + "."


class BabyAIHindsightRelabeler:
    """Offline backward construction for BabyAI (see the module docstring).

    `summarize_requires_event`: only summarize windows in which something happened beyond
    moving around (a bare "turn left" teaches nothing)."""

    name = WRITER

    def __init__(
        self,
        kinds: tuple[str, ...] | list[str] = ("abstract", "summarize"),
        *,
        summarize_requires_event: bool = True,
    ):
        self.kinds = tuple(kinds)
        self.summarize_requires_event = summarize_requires_event
        self._counts: dict[tuple[str, int], Counter[tuple[str, str]]] = {}
        self._envs: dict[str, Any] = {}

    def object_counts(self, parent: Trajectory) -> Counter[tuple[str, str]] | None:
        """(type, color) → how many the level holds (decides 'the' vs 'a')."""
        level, seed = parent.metadata.get("level"), parent.metadata.get("seed")
        if not isinstance(level, str) or not isinstance(seed, int):
            return None
        key = (level, seed)
        if key not in self._counts:
            from lbi_icl.envs.babyai import make_level, reset_level

            env = self._envs.get(level)
            if env is None:
                env = self._envs[level] = make_level(level)
            reset_level(env, seed)
            counts: Counter[tuple[str, str]] = Counter()
            for obj in env.grid.grid:
                if obj is not None and obj.type != "wall":
                    counts[(str(obj.type), str(obj.color))] += 1
            if env.carrying is not None:
                counts[(str(env.carrying.type), str(env.carrying.color))] += 1
            self._counts[key] = counts
        return self._counts[key]

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        steps = parent.steps[start:end]
        out: list[WindowInstruction] = []
        if "abstract" in self.kinds:
            goal = abstract_goal(steps)
            if goal is not None:
                out.append(
                    WindowInstruction(
                        instruction=goal_text(goal, self.object_counts(parent)),
                        kind="abstract",
                        writer=WRITER,
                        goal=goal,
                    )
                )
        if "summarize" in self.kinds:
            eventful = any(s.info.get("events") for s in steps)
            if eventful or not self.summarize_requires_event:
                out.append(
                    WindowInstruction(
                        instruction="Replicate the following: " + summary_text(steps),
                        kind="summarize",
                        writer=WRITER,
                    )
                )
        return out


def make_relabeler(**options: Any) -> BabyAIHindsightRelabeler:
    return BabyAIHindsightRelabeler(**options)
