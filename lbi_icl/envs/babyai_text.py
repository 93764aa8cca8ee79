"""Text view of a BabyAI state, action words, and the events an action caused.

The view follows BALROG's BabyAI-Text style: every visible object relative to the agent
("a red key 3 steps forward and 2 steps right"), the nearest wall straight ahead / left /
right, doors with their state, and what the agent carries. Events ("picked up the red
key", "opened the blue door", ...) are computed by comparing the state before and after
an action; they feed the hindsight relabeler and the environment check.

Works on a minigrid `MiniGridEnv` (the unwrapped env) without importing minigrid itself.
"""

from __future__ import annotations

import re
from typing import Any

# minigrid's Actions enum order: left, right, forward, pickup, drop, toggle, done
ACTION_WORDS: tuple[str, ...] = (
    "turn left",
    "turn right",
    "go forward",
    "pick up",
    "drop",
    "toggle",
    "done",
)
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)

_ALIASES: dict[str, int] = {
    "left": LEFT,
    "turn left": LEFT,
    "rotate left": LEFT,
    "right": RIGHT,
    "turn right": RIGHT,
    "rotate right": RIGHT,
    "forward": FORWARD,
    "go forward": FORWARD,
    "move forward": FORWARD,
    "step forward": FORWARD,
    "pickup": PICKUP,
    "pick up": PICKUP,
    "pick": PICKUP,
    "drop": DROP,
    "put down": DROP,
    "toggle": TOGGLE,
    "open": TOGGLE,
    "done": DONE,
}

ObjKey = tuple[str, str]  # (type, color)


def parse_action(text: str) -> int | None:
    """Action word(s) → minigrid action index, or None when it is not one of the actions."""
    t = re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip(" .!'\"`")
    return _ALIASES.get(t)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def object_phrase(obj: Any) -> str:
    """'red ball', 'locked blue door', 'open green door'."""
    if obj.type == "door":
        state = "open" if obj.is_open else ("locked" if obj.is_locked else "closed")
        return f"{state} {obj.color} door"
    return f"{obj.color} {obj.type}"


def offset_phrase(forward: int, right: int) -> str:
    parts = []
    if forward > 0:
        parts.append(f"{_plural(forward, 'step')} forward")
    if right > 0:
        parts.append(f"{_plural(right, 'step')} right")
    elif right < 0:
        parts.append(f"{_plural(-right, 'step')} left")
    return " and ".join(parts) if parts else "here"


def visible_objects(env: Any) -> list[tuple[int, int, Any]]:
    """(forward, right, object) for every visible cell holding something, agent excluded."""
    grid, vis = env.gen_obs_grid()
    ax, ay = grid.width // 2, grid.height - 1
    out = []
    for i in range(grid.width):
        for j in range(grid.height):
            if (i, j) == (ax, ay) or not vis[i, j]:
                continue
            cell = grid.get(i, j)
            if cell is None:
                continue
            out.append((ay - j, i - ax, cell))
    return out


def describe_view(env: Any) -> list[str]:
    """One line per visible object (nearest first), then the nearest walls in a line."""
    lines: list[tuple[tuple[int, int, int], str]] = []
    wall_ahead: int | None = None
    wall_left: int | None = None
    wall_right: int | None = None
    for fwd, right, obj in visible_objects(env):
        if obj.type == "wall":
            if right == 0 and (wall_ahead is None or fwd < wall_ahead):
                wall_ahead = fwd
            elif fwd == 0 and right < 0 and (wall_left is None or -right < wall_left):
                wall_left = -right
            elif fwd == 0 and right > 0 and (wall_right is None or right < wall_right):
                wall_right = right
            continue
        if obj.type in ("floor", "goal", "lava"):
            phrase = obj.type if obj.type != "goal" else "goal square"
        else:
            phrase = object_phrase(obj)
        key = (fwd + abs(right), fwd, right)
        lines.append((key, f"{_article(phrase)} {offset_phrase(fwd, right)}"))
    lines.sort()
    out = [text for _, text in lines]
    if wall_ahead is not None:
        out.append(f"a wall {_plural(wall_ahead, 'step')} forward")
    if wall_left is not None:
        out.append(f"a wall {_plural(wall_left, 'step')} left")
    if wall_right is not None:
        out.append(f"a wall {_plural(wall_right, 'step')} right")
    return out


def render_observation(env: Any, mission: str | None = None) -> str:
    """The text observation: (mission,) what the agent sees, what it carries."""
    parts = []
    if mission:
        parts.append(f"Mission: {mission}")
    seen = describe_view(env)
    parts.append("You see: " + ("; ".join(seen) if seen else "nothing but empty floor") + ".")
    carrying = env.carrying
    if carrying is not None:
        parts.append(f"You are carrying {_article(object_phrase(carrying))}.")
    else:
        parts.append("You are carrying nothing.")
    return "\n".join(parts)


def obj_key(obj: Any) -> list[str]:
    return [str(obj.type), str(obj.color)]


def snapshot(env: Any) -> dict[str, Any]:
    """The bits of state events are computed from (cheap; taken before every action)."""
    fx, fy = (int(v) for v in env.front_pos)
    front = env.grid.get(fx, fy) if 0 <= fx < env.width and 0 <= fy < env.height else None
    return {
        "pos": (int(env.agent_pos[0]), int(env.agent_pos[1])),
        "dir": int(env.agent_dir),
        "carrying": env.carrying,
        "front": front,
        "front_open": bool(getattr(front, "is_open", False)),
    }


def events_between(before: dict[str, Any], env: Any, action: int) -> list[dict[str, Any]]:
    """What `action` achieved, as JSON-friendly dicts:
    goto (now facing an object), pickup, drop, put_next (dropped next to an object),
    open / close (a door)."""
    after = snapshot(env)
    events: list[dict[str, Any]] = []
    if action == PICKUP and before["carrying"] is None and after["carrying"] is not None:
        events.append({"event": "pickup", "obj": obj_key(after["carrying"])})
    elif action == DROP and before["carrying"] is not None and after["carrying"] is None:
        dropped = before["carrying"]
        events.append({"event": "drop", "obj": obj_key(dropped)})
        x, y = (int(v) for v in dropped.cur_pos)
        seen: set[tuple[str, str]] = set()
        for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if not (0 <= nx < env.width and 0 <= ny < env.height):
                continue
            other = env.grid.get(nx, ny)
            if other is None or other.type == "wall":
                continue
            key = (str(other.type), str(other.color))
            if key in seen:
                continue
            seen.add(key)
            events.append({"event": "put_next", "obj": obj_key(dropped), "target": list(key)})
    elif action == TOGGLE:
        front = after["front"]
        if front is not None and front.type == "door" and front is before["front"]:
            if front.is_open and not before["front_open"]:
                events.append({"event": "open", "obj": obj_key(front)})
            elif not front.is_open and before["front_open"]:
                events.append({"event": "close", "obj": obj_key(front)})
    elif action in (LEFT, RIGHT, FORWARD):
        moved = (after["pos"], after["dir"]) != (before["pos"], before["dir"])
        front = after["front"]
        if moved and front is not None and front.type not in ("wall", "floor", "lava", "goal"):
            events.append({"event": "goto", "obj": obj_key(front)})
    return events


def event_text(ev: dict[str, Any]) -> str:
    """Past-tense phrase for an event, for summaries: 'picked up the red key'."""
    obj = " ".join(reversed(ev["obj"]))  # "red key"
    kind = ev["event"]
    if kind == "goto":
        return f"reached the {obj}"
    if kind == "pickup":
        return f"picked up the {obj}"
    if kind == "drop":
        return f"dropped the {obj}"
    if kind == "put_next":
        return f"put the {obj} next to the {' '.join(reversed(ev['target']))}"
    if kind == "open":
        return f"opened the {obj}"
    if kind == "close":
        return f"closed the {obj}"
    return kind
