"""Offline backward construction for ScienceWorld: template instructions for a window.

ScienceWorld answers every successful action with a fixed sentence ("You move the
thermometer to the inventory.", "The stove is now activated.", "You focus on the water."),
so what a window did can be read off its (action, observation) pairs without a model:
- *abstract*: the window's recognizable effects as one instruction ("Go to the kitchen, move
  the metal pot to the stove, and activate the stove."), written only when at least one
  effect is recognized;
- *summarize*: "Replicate the following: after <action> the observation was <change>; ..."
  over every step that did something, for every window that did anything.
Steps the simulator rejected ("No known action matches that input.", "The door is not
open.", ambiguity prompts, "already open") are no-ops; a window of only no-ops yields [].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbi_icl.data import Trajectory
from lbi_icl.synth.base import WindowInstruction

WRITER = "template-scienceworld"
SHORT_CHARS = 120
MAX_CLAUSES = 5

_NO_MATCH = "No known action matches that input."
_AMBIGUOUS = "Ambiguous request"
# Simulator answers that mean "nothing happened".
_FAILURE = re.compile(
    r"^(?:No known action matches"
    r"|Ambiguous request"
    r"|It's not clear how to"
    r"|That can't be"
    r"|You can't"
    r"|You cannot"
    r"|The door is not open"
    r"|That container is empty"
    r"|.*\bis not (?:openable|closeable|movable|something that can be)\b"
    r"|.*\bisn't open, so you can't\b"
    r"|.*\bis already (?:open|closed|activated|deactivated|on|off)\b"
    r"|.*\bis not moveable\b"
    r"|.*\bnot possible\b"
    r"|.*\bcan't (?:be|do|see)\b)",
    re.IGNORECASE,
)
# A connection is a plausible goal only when a circuit part is involved.
_ELECTRICAL = re.compile(
    r"\b(?:wire|battery|anode|cathode|bulb|motor|buzzer|solar panel"
    r"|generator|switch|power)\b",
    re.IGNORECASE,
)
_PAREN_PREFIX = re.compile(r"^(?:\([^)]*\)\s*)+")


@dataclass(frozen=True)
class Effect:
    """One recognized effect of one step: `kind` orders importance, `text` is the clause."""

    kind: str
    text: str


# kind -> priority when a window has more effects than fit in one instruction (lower first).
_PRIORITY = {
    "focus": 0,
    "mix": 1,
    "move": 2,
    "pour": 2,
    "connect": 3,
    "activate": 3,
    "deactivate": 3,
    "measure": 3,
    "eat": 4,
    "pick": 4,
    "drop": 4,
    "open": 5,
    "close": 5,
    "go": 6,
    "wait": 7,
}


def _clean(text: str) -> str:
    return " ".join(text.split())


def _strip_location(obj: str) -> str:
    """'thermometer in inventory' -> 'thermometer' (the simulator's disambiguation suffix)."""
    return re.sub(r"\s+in (?:the )?inventory$", "", obj.strip())


def _the(obj: str) -> str:
    obj = obj.strip()
    return obj if re.match(r"^(?:the|a|an)\s", obj) else f"the {obj}"


def is_noop(observation: str) -> bool:
    """The simulator rejected the action or it changed nothing."""
    first = _PAREN_PREFIX.sub("", observation.strip())
    return not first or bool(_FAILURE.match(first))


def effect_of(action: str, observation: str) -> Effect | None:
    """The recognized effect of one step, or None (no-op, informational or unknown)."""
    if is_noop(observation):
        return None
    obs = _clean(_PAREN_PREFIX.sub("", observation.strip()))
    act = _clean(action).lower()
    m = re.match(r"^You move to the (.+?)\.", obs)
    if m:
        room = m.group(1)
        return Effect("go", "go outside" if room == "outside" else f"go to {_the(room)}")
    m = re.match(r"^You move the (.+?) to the inventory\.", obs)
    if m:
        return Effect("pick", f"pick up {_the(m.group(1))}")
    m = re.match(r"^You move the (.+?) to the (.+?)\.", obs)
    if m:
        if act.startswith(("put down", "drop")):
            return Effect("drop", f"put down {_the(m.group(1))}")
        return Effect("move", f"move {_the(m.group(1))} to {_the(m.group(2))}")
    m = re.match(r"^You pour the contents of the (.+?) into the (.+?)\.", obs)
    if m:
        return Effect("pour", f"pour the contents of {_the(m.group(1))} into {_the(m.group(2))}")
    m = re.match(r"^(.+?) mix(?:es)? to produce (.+?)\.", obs)
    if m:
        return Effect("mix", f"mix {m.group(1)[0].lower()}{m.group(1)[1:]} to make {m.group(2)}")
    m = re.match(r"^You focus on the (.+?)\.", obs)
    if m:
        return Effect("focus", f"focus on {_the(m.group(1))}")
    m = re.match(r"^The (.+?) is now (activated|deactivated|open|closed)\.", obs)
    if m:
        verb = {"activated": "activate", "deactivated": "deactivate"}.get(m.group(2))
        if verb:
            return Effect(verb, f"{verb} {_the(m.group(1))}")
        verb = "open" if m.group(2) == "open" else "close"
        target = act.split(" ", 1)[1] if act.startswith(verb + " ") else m.group(1)
        return Effect(verb, f"{verb} {_the(_strip_location(target))}")
    m = re.match(r"^(.+?) is now connected to (.+?)\.?$", obs)
    if m:
        if not _ELECTRICAL.search(obs):
            return None  # the simulator wires anything to anything: not a goal anyone sets
        return Effect("connect", f"connect {_the(m.group(1))} to {_the(m.group(2))}")
    m = re.match(r"^the (.+?) measures a temperature of (-?\d+(?:\.\d+)?) degrees", obs)
    if m:
        target = act.split(" on ", 1)[1] if " on " in act else "the substance"
        return Effect("measure", f"measure the temperature of {_the(_strip_location(target))}")
    m = re.match(r"^The (.+?) was delicious\.", obs)
    if m:
        return Effect("eat", f"eat {_the(m.group(1))}")
    if re.match(r"^You decide to wait for \d+ iterations?\.", obs):
        return Effect("wait", "wait")
    return None


def _merge(effects: list[Effect]) -> list[Effect]:
    """Drop steps another effect implies: a door opened then walked through, an object
    picked up then moved, a run of rooms (keep the last), repeated identical clauses."""
    out: list[Effect] = []
    for i, eff in enumerate(effects):
        later = effects[i + 1 :]
        if eff.kind == "open" and eff.text.startswith("open the door to "):
            room = eff.text.removeprefix("open the door to ")
            went = {f"go to {_the(room)}", f"go {room}"}
            if any(e.kind == "go" and e.text in went for e in later):
                continue
        if eff.kind == "pick":
            obj = eff.text.removeprefix("pick up ")
            if any(e.kind == "move" and e.text.startswith(f"move {obj} to ") for e in later):
                continue
        if eff.kind == "go":
            # a walk through several rooms: only the room it ends in matters
            nxt = next((e for e in later if e.kind != "open"), None)
            if nxt is not None and nxt.kind == "go":
                continue
        if out and out[-1].text == eff.text:
            continue
        out.append(eff)
    return out


def _select(effects: list[Effect], max_clauses: int = MAX_CLAUSES) -> list[Effect]:
    """At most `max_clauses` effects, the most telling kinds first, in window order."""
    if len(effects) <= max_clauses:
        return effects
    ranked = sorted(range(len(effects)), key=lambda i: (_PRIORITY.get(effects[i].kind, 9), -i))
    keep = sorted(ranked[:max_clauses])
    return [effects[i] for i in keep]


def _join(clauses: list[str]) -> str:
    if len(clauses) == 1:
        text = clauses[0]
    elif len(clauses) == 2:
        text = f"{clauses[0]}, then {clauses[1]}"
    else:
        text = ", ".join(clauses[:-1]) + f", and then {clauses[-1]}"
    return text[0].upper() + text[1:] + "."


def short_change(observation: str, max_chars: int = SHORT_CHARS) -> str:
    """The first part of an observation, trimmed for a one-line summary."""
    text = _clean(_PAREN_PREFIX.sub("", observation.strip()))
    room = re.match(r"^(This room is called the .+?\.)", text)
    if room:
        return room.group(1)
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + " ..."


class ScienceWorldTemplateRelabeler:
    """`Relabeler` for ScienceWorld trajectories, offline and deterministic."""

    name = WRITER

    def __init__(self, *, max_clauses: int = MAX_CLAUSES, short_chars: int = SHORT_CHARS):
        """`max_clauses`: effects named in one abstract instruction; `short_chars`: length
        of each observation in a summarize instruction."""
        if max_clauses < 1 or short_chars < 20:
            raise ValueError("max_clauses must be >= 1 and short_chars >= 20")
        self.max_clauses = max_clauses
        self.short_chars = short_chars

    def _resolved_action(self, parent: Trajectory, i: int) -> str:
        """A numeric answer to an ambiguity prompt stands for the action that asked."""
        action = parent.steps[i].action.strip()
        if action.isdigit() and i > 0 and parent.steps[i].observation.startswith(_AMBIGUOUS):
            return parent.steps[i - 1].action
        return action

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        n = len(parent.steps)
        if not 0 <= start < end <= n:
            raise ValueError(
                f"trajectory {parent.id}: window [{start}, {end}) outside its {n} steps"
            )
        effects: list[Effect] = []
        parts: list[str] = []
        for i in range(start, end):
            after = (
                parent.steps[i + 1].observation if i + 1 < n else parent.final_observation
            ) or ""
            if is_noop(after):
                continue
            action = parent.steps[i].action.strip()
            resolved = self._resolved_action(parent, i)
            eff = effect_of(resolved, after)
            # a number answering an ambiguity prompt: name the action it chose
            shown = f"'{action}'" if resolved == action else f"'{resolved}' (option {action})"
            if eff is not None:
                effects.append(eff)
            parts.append(
                f"after {shown} the observation was '{short_change(after, self.short_chars)}'"
            )
        if not parts:
            return []
        out: list[WindowInstruction] = []
        clauses = [e.text for e in _select(_merge(effects), self.max_clauses)]
        if clauses:
            out.append(
                WindowInstruction(instruction=_join(clauses), kind="abstract", writer=WRITER)
            )
        out.append(
            WindowInstruction(
                instruction="Replicate the following: " + "; ".join(parts) + ".",
                kind="summarize",
                writer=WRITER,
            )
        )
        return out


def make_relabeler(**options: int) -> ScienceWorldTemplateRelabeler:
    """Factory for the relabeler registry (`lbi_icl.synth.relabelers`)."""
    return ScienceWorldTemplateRelabeler(**options) if options else RELABELER


RELABELER = ScienceWorldTemplateRelabeler()
