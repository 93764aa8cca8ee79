"""Actions as OSWorld's agents send them.

`pyautogui` (default): a Python code string run on the desktop with
`import pyautogui; import time` before it (what OSWorld's PythonController prefixes), or
one of the special actions `WAIT`, `FAIL`, `DONE`. On the `Action:` line several statements
are separated by `;`.

`computer_13` (`--env-option action_space=computer_13`): OSWorld's structured actions as a
JSON object, e.g. `{"action_type": "CLICK", "x": 10, "y": 20}`, `{"action_type": "TYPING",
"text": "abc"}`, `{"action_type": "HOTKEY", "keys": ["ctrl", "s"]}`; translated here into
the equivalent pyautogui call.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any, Literal

SPECIAL = ("WAIT", "FAIL", "DONE")
ActionSpace = Literal["pyautogui", "computer_13"]


class ActionError(ValueError):
    """The action cannot be run; the message is shown to the agent."""


@dataclass(frozen=True)
class Parsed:
    kind: Literal["code", "WAIT", "FAIL", "DONE"]
    code: str = ""


def _special(text: str) -> str | None:
    word = text.strip().strip("`'\".").upper()
    return word if word in SPECIAL else None


def _num(params: dict[str, Any], key: str) -> float:
    value = params.get(key)
    if not isinstance(value, int | float):
        raise ActionError(f"{key} must be a number")
    return value


def computer13_to_code(action: dict[str, Any]) -> str | None:
    """The pyautogui code of a computer_13 action (None for WAIT / FAIL / DONE)."""
    kind = str(action.get("action_type", "")).upper()
    p = dict(action.get("parameters") or {k: v for k, v in action.items() if k != "action_type"})
    if kind in SPECIAL:
        return None
    xy = f"{_num(p, 'x')}, {_num(p, 'y')}" if "x" in p or "y" in p else ""
    if kind == "MOVE_TO":
        return f"pyautogui.moveTo({xy})"
    if kind in ("CLICK", "RIGHT_CLICK", "DOUBLE_CLICK"):
        args = [xy] if xy else []
        if kind == "CLICK":
            if "button" in p:
                args.append(f"button={str(p['button'])!r}")
            if "num_clicks" in p:
                args.append(f"clicks={int(_num(p, 'num_clicks'))}")
        fn = {"CLICK": "click", "RIGHT_CLICK": "rightClick", "DOUBLE_CLICK": "doubleClick"}[kind]
        return f"pyautogui.{fn}({', '.join(args)})"
    if kind in ("MOUSE_DOWN", "MOUSE_UP"):
        fn = "mouseDown" if kind == "MOUSE_DOWN" else "mouseUp"
        button = f"button={str(p['button'])!r}" if "button" in p else ""
        return f"pyautogui.{fn}({button})"
    if kind == "DRAG_TO":
        return f"pyautogui.dragTo({xy}, duration=0.5, button='left')"
    if kind == "SCROLL":
        parts = []
        if "dx" in p:
            parts.append(f"pyautogui.hscroll({int(_num(p, 'dx'))})")
        if "dy" in p:
            parts.append(f"pyautogui.vscroll({int(_num(p, 'dy'))})")
        if not parts:
            raise ActionError("SCROLL needs dx or dy")
        return "; ".join(parts)
    if kind == "TYPING":
        return f"pyautogui.typewrite({str(p.get('text', ''))!r})"
    if kind in ("PRESS", "KEY_DOWN", "KEY_UP"):
        fn = {"PRESS": "press", "KEY_DOWN": "keyDown", "KEY_UP": "keyUp"}[kind]
        return f"pyautogui.{fn}({str(p.get('key', ''))!r})"
    if kind == "HOTKEY":
        keys = p.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ActionError("HOTKEY needs a list of keys")
        return f"pyautogui.hotkey({', '.join(repr(str(k)) for k in keys)})"
    raise ActionError(f"unknown computer_13 action_type {kind!r}")


def parse(action: str, space: ActionSpace = "pyautogui") -> Parsed:
    """What to do for an action string; ActionError (shown to the agent) when it cannot run."""
    text = action.strip()
    special = _special(text)
    if special is not None:
        return Parsed(special)  # type: ignore[arg-type]
    if space == "computer_13":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ActionError(f"not a JSON computer_13 action: {e.msg}") from e
        if not isinstance(obj, dict):
            raise ActionError("a computer_13 action is a JSON object with action_type")
        code = computer13_to_code(obj)
        if code is None:
            return Parsed(str(obj.get("action_type")).upper())  # type: ignore[arg-type]
        return Parsed("code", code)
    if text.startswith("```"):
        text = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("```"))
    try:
        ast.parse(text)
    except SyntaxError as e:
        raise ActionError(f"not valid Python: {e.msg} (line {e.lineno})") from e
    return Parsed("code", text)
