"""Offline backward construction for the web (BrowserGym envs: MiniWoB++, WebArena, ...).

Every step of a web rollout records in `info["effect"]` what its action did: the verb
(`click`, `fill`, `select_option`, `goto`, ...), the target element as the accessibility
tree showed it before the action (`button 'Submit'`, `textbox 'Username'`), the text typed
or chosen, whether the page (URL) changed and the page title after it. A window's
instructions are read off those effects:

- *abstract*: the effects as one instruction, in order, at most five clauses — `Type
  "Myron" into the text field, then click the "Submit" button.`; pages reached are named by
  title (`..., and go to the page "Inbox"`). When the window starts at the episode's first
  step and ends with the benchmark reporting success, the task's own goal (the `Goal:` line
  of the observation) is written too: the window demonstrably achieves it.
- *summarize*: `Replicate the following: fill("14", "Myron") on textbox ''; click("15") on
  button 'Submit'.`

Actions BrowserGym rejected (`last_action_error`), and `noop`/`scroll`, are no-ops; a window
of only no-ops yields nothing.
"""

from __future__ import annotations

import re
from typing import Any

from lbi_icl.data import Trajectory
from lbi_icl.envs.browsergym.text import GOAL_LINE
from lbi_icl.synth.base import WindowInstruction

WRITER = "template-web"
MAX_CLAUSES = 5

_ELEMENT = re.compile(r"^(?P<role>[\w-]+)\s*(?:'(?P<name>.*)'|\"(?P<name2>.*)\")?")
_ROLE_WORDS = {
    "textbox": "text field",
    "searchbox": "search box",
    "combobox": "drop-down",
    "listbox": "list",
    "menuitem": "menu item",
    "gridcell": "cell",
    "StaticText": "text",
    "img": "image",
    "treeitem": "tree item",
    "spinbutton": "number field",
    "RootWebArea": "page",
}
_NOOP_VERBS = frozenset({"", "noop", "scroll", "hover", "focus", "press", "keyboard_press"})


def describe_element(element: str | None) -> str:
    """'the "Submit" button' from "button 'Submit'"; 'the text field' from "textbox ''"."""
    if not element:
        return "an element"
    m = _ELEMENT.match(element.strip())
    if m is None:
        return "an element"
    role = m.group("role")
    name = (m.group("name") or m.group("name2") or "").strip()
    word = _ROLE_WORDS.get(role, role.lower())
    if role == "StaticText" and name:
        return f'the text "{_short(name)}"'
    return f'the "{_short(name)}" {word}' if name else f"the {word}"


def _short(s: str, n: int = 60) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


def effect_clause(effect: dict[str, Any]) -> str | None:
    """One instruction clause for one step, or None for a no-op."""
    verb = str(effect.get("verb") or "")
    if not effect.get("ok", True) or verb in _NOOP_VERBS:
        return None
    target = describe_element(effect.get("element"))
    text = effect.get("text")
    if verb == "fill":
        return f'type "{_short(str(text or ""))}" into {target}'
    if verb == "select_option":
        return f'choose "{_short(str(text or ""))}" in {target}'
    if verb in ("click", "dblclick", "check", "uncheck"):
        word = "double-click" if verb == "dblclick" else "click"
        return f"{word} {target}"
    if verb == "goto":
        return f"open {text}"
    if verb == "send_msg_to_user":
        return f'answer "{_short(str(text or ""))}"'
    if verb in ("go_back", "go_forward"):
        return verb.replace("_", " ")
    if verb in ("new_tab", "tab_close", "tab_focus"):
        return {"new_tab": "open a new tab", "tab_close": "close the tab"}.get(verb, "switch tab")
    return None


def _join(clauses: list[str]) -> str:
    body = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", then " + clauses[-1]
    return body[0].upper() + body[1:] + "."


def goal_of(observation: str) -> str | None:
    """The page's goal from the observation's first line (None when there is none)."""
    first = observation.split("\n", 1)[0]
    prefix = f"{GOAL_LINE} "
    return first[len(prefix) :].strip() or None if first.startswith(prefix) else None


class WebTemplateRelabeler:
    """Template instructions for windows of BrowserGym rollouts (see module docstring)."""

    name = WRITER

    def __init__(self, *, max_clauses: int = MAX_CLAUSES):
        self.max_clauses = max_clauses

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        steps = parent.steps[start:end]
        clauses: list[str] = []
        done_actions: list[str] = []
        for step in steps:
            effect = dict((step.info or {}).get("effect") or {})
            clause = effect_clause(effect)
            if clause is None:
                continue
            if effect.get("page_changed") and effect.get("title"):
                clause += f' to reach the page "{_short(str(effect["title"]))}"'
            if not clauses or clauses[-1] != clause:
                clauses.append(clause)
            element = effect.get("element") or ""
            done_actions.append(f"{step.action} on {element}" if element else step.action)
        if not clauses:
            return []
        out: list[WindowInstruction] = []
        last_info = steps[-1].info or {}
        goal = goal_of(parent.steps[0].observation) if parent.steps else None
        if start == 0 and last_info.get("success") and goal:
            out.append(WindowInstruction(instruction=goal, kind="abstract", writer=self.name))
        if len(clauses) <= self.max_clauses:
            out.append(
                WindowInstruction(instruction=_join(clauses), kind="abstract", writer=self.name)
            )
        out.append(
            WindowInstruction(
                instruction="Replicate the following: " + "; ".join(done_actions) + ".",
                kind="summarize",
                writer=self.name,
            )
        )
        return out


def make_relabeler(**options: Any) -> WebTemplateRelabeler:
    return WebTemplateRelabeler(**options)
