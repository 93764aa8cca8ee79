"""Offline backward construction for the desktop envs (`desktop`, `osworld`, `spider2v`).

Every desktop step records in `info["effect"]` what its action changed, read from two
differences: the accessibility tree before and after (`changes`: cell / paragraph / field
texts that changed, e.g. `table-cell 'B7': '' -> '16'`) and the files the task's evaluator
reads (`saved`: which of them changed on disk). A window's instructions come from them:

- *abstract*: the changes as one instruction, at most five clauses — `Enter "Total" in
  cell D1, enter the formula =B2*C2 in cell D2 (it shows "12"), then save Sales.xlsx.` (a
  cell shows a formula's value: the formula is read off the typed text); formatting
  shortcuts with no text change are named from the code (`make the selection bold`).
  When the window starts at the episode's first step and the episode ended in success,
  the task's own instruction is written too.
- *summarize*: `Replicate the following: pyautogui.typewrite('=SUM(B2:B6)\\n') (cell B7
  became "16"); ...`

Steps whose code failed (`ok` false) or changed nothing are no-ops; a window of only no-ops
yields nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import PurePosixPath
from typing import Any

from lbi_icl.data import Trajectory
from lbi_icl.synth.base import WindowInstruction

WRITER = "template-desktop"
MAX_CLAUSES = 5
_CHANGE = re.compile(r"^(?P<tag>[\w-]+) '(?P<name>.*?)': '(?P<a>.*)' -> '(?P<b>.*)'$")
_HOTKEYS = {
    ("ctrl", "b"): "make the selection bold",
    ("ctrl", "i"): "make the selection italic",
    ("ctrl", "u"): "underline the selection",
    ("ctrl", "e"): "centre the paragraph",
    ("ctrl", "l"): "align the paragraph left",
    ("ctrl", "r"): "align the paragraph right",
    ("ctrl", "-"): "delete the selected rows or columns",
}
_HOTKEY = re.compile(r"hotkey\(([^)]*)\)")
_TYPED = re.compile(r"typewrite\(\s*('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")


def _short(text: str, n: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def change_clause(change: str) -> str | None:
    m = _CHANGE.match(change)
    if m is None:
        return None
    tag, name, a, b = m["tag"], m["name"], m["a"], m["b"]
    where = f"cell {name}" if tag == "table-cell" else (f"the {tag.replace('-', ' ')}")
    if not a and b and b.startswith("=") and " = " in b:  # a formula and the value it shows
        formula, value = b.split(" = ", 1)
        return f'enter the formula {formula} in {where} (it shows "{_short(value)}")'
    if not a and b:
        return f'enter "{_short(b)}" in {where}'
    if a and not b:
        return f"clear {where}" if tag == "table-cell" else f'delete the text "{_short(a)}"'
    return f'change {where} from "{_short(a)}" to "{_short(b)}"'


def typed_lines(action: str) -> list[str]:
    """The lines the action typed (`pyautogui.typewrite('=SUM(B2:B6)\\nTotal')`)."""
    out: list[str] = []
    for m in _TYPED.finditer(action):
        try:
            text = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            continue
        if isinstance(text, str):
            out += [line for line in text.split("\n") if line]
    return out


def effect_clauses(effect: dict[str, Any], action: str) -> list[str]:
    if not effect.get("ok", True) or effect.get("verb") in ("invalid", "WAIT", "DONE", "FAIL"):
        return []
    changes = [str(ch) for ch in effect.get("changes") or []]
    lines = typed_lines(action)
    if lines and len(lines) == len(changes):  # a cell shows a formula's value: name the formula
        changes = [
            ch.replace(" -> '", f" -> '{line} = ", 1) if line.startswith("=") else ch
            for ch, line in zip(changes, lines, strict=True)
        ]
    out = [c for ch in changes if (c := change_clause(ch))]
    if not out:
        for m in _HOTKEY.finditer(action):
            keys = tuple(k.strip(" '\"").lower() for k in m.group(1).split(","))
            if keys in _HOTKEYS:
                out.append(_HOTKEYS[keys])
    for path in effect.get("saved") or []:
        out.append(f"save {PurePosixPath(str(path)).name}")
    return out


def _join(clauses: list[str]) -> str:
    text = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", then " + clauses[-1]
    return text[0].upper() + text[1:] + "."


class DesktopTemplateRelabeler:
    name = WRITER

    def __init__(self, *, max_clauses: int = MAX_CLAUSES):
        self.max_clauses = max_clauses

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        clauses: list[str] = []
        summary: list[str] = []
        for step in parent.steps[start:end]:
            effect = step.info.get("effect") or {}
            found = effect_clauses(effect, step.action)
            if not found:
                continue
            for c in found:
                if c not in clauses:
                    clauses.append(c)
            shown = "; ".join(found)
            summary.append(f"{_short(step.action, 80)} ({shown})")
        if not clauses:
            return []
        out = [
            WindowInstruction(
                instruction=_join(clauses[: self.max_clauses]), kind="abstract", writer=WRITER
            ),
            WindowInstruction(
                instruction="Replicate the following: " + "; ".join(summary) + ".",
                kind="summarize",
                writer=WRITER,
            ),
        ]
        last = parent.steps[end - 1].info if end > start else {}
        if start == 0 and end == len(parent.steps) and last.get("success"):
            out.append(
                WindowInstruction(instruction=parent.instruction, kind="abstract", writer=WRITER)
            )
        return out


def make_relabeler(**options: Any) -> DesktopTemplateRelabeler:
    return DesktopTemplateRelabeler(**options)
