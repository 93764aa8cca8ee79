"""Candidate actions in the current state (`valid_actions()`): for the retrieval-only policy
and the `random` / `coverage` explorers. A desktop accepts any code, so this is a menu, not
a limit: a click on the centre of each interactive element shown, the common keys and
shortcuts, typing the quoted phrases, cell names and numbers of the instruction (alone and
followed by Enter), DONE and FAIL."""

from __future__ import annotations

import re

from lbi_icl.envs.desktop.a11y_text import Node

KEYS = [
    "pyautogui.press('enter')",
    "pyautogui.press('tab')",
    "pyautogui.press('escape')",
    "pyautogui.press('down')",
    "pyautogui.press('delete')",
    "pyautogui.press('right')",
    "pyautogui.hotkey('ctrl', 's')",
    "pyautogui.hotkey('ctrl', 'z')",
    "pyautogui.hotkey('ctrl', 'b')",
    "pyautogui.hotkey('ctrl', 'home')",
    "pyautogui.hotkey('ctrl', 'shift', 'f5')",
]
_CLICKABLE = ("button", "menu", "item", "page-tab", "check-box", "combo-box", "table-cell")
_WORDS = re.compile(
    r"\"([^\"]{1,60})\"|'([^']{1,60})'"  # quoted phrases
    r"|\b([A-Z]{1,2}[0-9]{1,4}(?::[A-Z]{1,2}[0-9]{1,4})?|-?\d+(?:\.\d+)?)\b"  # cells, numbers
)


def typed_strings(instruction: str) -> list[str]:
    out: list[str] = []
    for m in _WORDS.finditer(instruction):
        s = next(g for g in m.groups() if g is not None)
        if s not in out:
            out.append(s)
    return out[:8]


def candidate_actions(shown: list[Node], instruction: str, max_clicks: int = 40) -> list[str]:
    clicks: list[str] = []
    for n in shown:
        if n.tag.endswith(_CLICKABLE) and (n.tag != "table-cell" or n.text):
            x, y = n.center
            action = f"pyautogui.click({x}, {y})"
            if action not in clicks:
                clicks.append(action)
        if len(clicks) >= max_clicks:
            break
    typed = []
    for s in typed_strings(instruction):
        typed.append(f"pyautogui.typewrite({s!r})")
        typed.append(f"pyautogui.typewrite({s + chr(10)!r})")  # and Enter: commit a cell
    return [*clicks, *KEYS, *typed, "DONE", "FAIL"]
