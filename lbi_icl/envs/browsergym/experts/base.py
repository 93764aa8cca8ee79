"""What every solver shares: the registry, action strings, goal parsing helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from lbi_icl.envs.browsergym.experts.dom import El, Page

Memory = dict[str, Any]
Solver = Callable[[Page, Memory], "str | None"]
SOLVERS: dict[str, Solver] = {}


def solves(*tasks: str) -> Callable[[Solver], Solver]:
    def register(fn: Solver) -> Solver:
        for t in tasks:
            SOLVERS[t] = fn
        return fn

    return register


# -- actions (BrowserGym's high-level action strings) ---------------------------------------


def q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def click(el: El) -> str:
    if el.bid is None:
        raise ValueError(f"{el!r} has no bid")
    return f"click({q(el.bid)})"


def fill(el: El, text: str) -> str:
    if el.bid is None:
        raise ValueError(f"{el!r} has no bid")
    return f"fill({q(el.bid)}, {q(text)})"


def press(key: str) -> str:
    return f"keyboard_press({q(key)})"


def type_text(text: str) -> str:
    return f"keyboard_type({q(text)})"


def mouse_click(x: float, y: float) -> str:
    return f"mouse_click({x:.1f}, {y:.1f})"


# -- reading the goal -----------------------------------------------------------------------

_QUOTED = re.compile(r'"([^"]*)"')


def quoted(goal: str) -> list[str]:
    """The double-quoted phrases of the goal, in order."""
    return _QUOTED.findall(goal)


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def same_text(a: str, b: str) -> bool:
    return norm(a) == norm(b)


def find_text(els: list[El], text: str) -> El | None:
    """The element whose text is `text`: exactly, else ignoring case and punctuation at
    the ends."""
    for el in els:
        if same_text(el.text(), text):
            return el
    key = norm(text).strip(".,;:!?").lower()
    for el in els:
        if norm(el.text()).strip(".,;:!?").lower() == key:
            return el
    return None


def ordinal(word: str) -> int | None:
    """1 for '1st' / 'first', 2 for '2nd' / 'second', ..."""
    word = word.lower()
    m = re.match(r"(\d+)(?:st|nd|rd|th)?$", word)
    if m:
        return int(m.group(1))
    names = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]
    names += ["ninth", "tenth"]
    return names.index(word) + 1 if word in names else None


def visible(els: list[El]) -> list[El]:
    return [e for e in els if e.visible]


def click_uncovered(target: El, others: list[El]) -> str:
    """`click(target)`, or when another element overlaps it, a `mouse_click` on a point
    of its box that none of `others` covers (boxes are in screenshot pixels, as
    `mouse_click` takes them); the centre when every point is covered."""
    box = target.bbox
    covers = [o.bbox for o in others if o is not target and o.bbox is not None]
    if box is None or not any(_overlap(box, c) for c in covers):
        return click(target)
    x, y, w, h = box
    for fy in (0.5, 0.25, 0.75, 0.1, 0.9):
        for fx in (0.5, 0.25, 0.75, 0.1, 0.9):
            px, py = x + fx * w, y + fy * h
            if not any(cx <= px <= cx + cw and cy <= py <= cy + ch for cx, cy, cw, ch in covers):
                return mouse_click(px, py)
    return click(target)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
