"""What one generated task is, and the pieces every family shares (keyboard-first actions,
the save-then-evaluate postconfig, random tables)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

APP_DOMAIN = {
    "calc": "libreoffice_calc",
    "writer": "libreoffice_writer",
    "impress": "libreoffice_impress",
}
APP_TITLE = {
    "calc": "LibreOffice Calc",
    "writer": "LibreOffice Writer",
    "impress": "LibreOffice Impress",
}
HOME = "/home/user"


@dataclass
class GenTask:
    family: str
    app: str  # calc | writer | impress
    instruction: str
    filename: str
    input: bytes
    gold: bytes | None
    metric: str  # an OSWorld metric name, or "infeasible"
    options: dict[str, Any] = field(default_factory=dict)
    expert: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    name: str
    app: str
    split: str  # train | test
    make: Any  # (rng: random.Random) -> GenTask


def goto(cell: str) -> list[str]:
    """Calc: jump to a cell or range through the Name Box (Ctrl+Shift+F5)."""
    return ["pyautogui.hotkey('ctrl', 'shift', 'f5')", f"pyautogui.typewrite({cell + chr(10)!r})"]


def typed(text: str) -> str:
    return f"pyautogui.typewrite({text!r})"


SAVE = "pyautogui.hotkey('ctrl', 's')"


def postconfig(app: str, filename: str) -> list[dict[str, Any]]:
    """OSWorld's usual evaluator postconfig: raise the window, save, wait."""
    return [
        {
            "type": "activate_window",
            "parameters": {"window_name": f"{filename} - {APP_TITLE[app]}", "strict": True},
        },
        {"type": "sleep", "parameters": {"seconds": 0.5}},
        {
            "type": "execute",
            "parameters": {
                "command": ["python", "-c", "import pyautogui; pyautogui.hotkey('ctrl', 's')"]
            },
        },
        {"type": "sleep", "parameters": {"seconds": 2.0}},
    ]


ITEMS = ["Apples", "Pears", "Plums", "Grapes", "Lemons", "Cherries", "Peaches", "Melons",
         "Kiwis", "Mangos", "Figs", "Limes"]  # fmt: skip
PEOPLE = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Gus", "Hana", "Ivan", "Jade",
          "Kofi", "Lena"]  # fmt: skip
FILES = ["Sales", "Stock", "Budget", "Orders", "Scores", "Costs", "Inventory", "Prices"]


def table(rng: random.Random, n_rows: int, headers: list[str], *, low: int = 1,
          high: int = 99) -> list[list[Any]]:  # fmt: skip
    """A header row, then rows of a distinct name and numbers."""
    names = rng.sample(ITEMS if "Item" in headers[0] else PEOPLE, n_rows)
    rows: list[list[Any]] = [list(headers)]
    for name in names:
        rows.append([name, *[rng.randint(low, high) for _ in headers[1:]]])
    return rows
