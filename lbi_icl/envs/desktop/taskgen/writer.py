"""LibreOffice Writer task families, scored by OSWorld's docx metrics (`compare_docx_files`,
`is_first_line_centered`)."""

from __future__ import annotations

import random

from lbi_icl.envs.desktop.taskgen import files
from lbi_icl.envs.desktop.taskgen.spec import SAVE, Family, GenTask, typed

TITLES = ["Meeting Notes", "Project Plan", "Trip Report", "Reading List", "Weekly Update",
          "Garden Log", "Recipe Ideas", "Team Goals"]  # fmt: skip
SENTENCES = [
    "The next review is on Monday.",
    "Bring the signed forms to the front desk.",
    "All costs stay within the budget.",
    "The draft goes out to the team on Friday.",
    "Questions go to the project lead.",
    "The room is booked from nine to noon.",
    "Lunch is provided for everyone.",
    "Please read the attached summary first.",
    "The printer on the second floor is fixed.",
    "New badges arrive next week.",
]
DOC_NAMES = ["notes", "plan", "report", "memo", "summary", "draft", "minutes", "letter"]


def _doc(rng: random.Random) -> tuple[str, list[str]]:
    body = rng.sample(SENTENCES, rng.randint(2, 4))
    return f"{rng.choice(DOC_NAMES)}.docx", [rng.choice(TITLES), *body]


def _append(rng: random.Random) -> GenTask:
    name, paras = _doc(rng)
    extra = rng.choice([s for s in SENTENCES if s not in paras])
    return GenTask(
        family="writer-append-paragraph",
        app="writer",
        instruction=f"In {name}, add the sentence '{extra}' as a new last paragraph and save.",
        filename=name,
        input=files.docx(paras),
        gold=files.docx([*paras, extra]),
        metric="compare_docx_files",
        expert=["pyautogui.hotkey('ctrl', 'end')", "pyautogui.press('enter')", typed(extra), SAVE],
    )


def _retitle(rng: random.Random) -> GenTask:
    name, paras = _doc(rng)
    new = rng.choice([t for t in TITLES if t != paras[0]])
    return GenTask(
        family="writer-retitle",
        app="writer",
        instruction=f"In {name}, change the title (the first line, '{paras[0]}') to '{new}' "
        "and save.",
        filename=name,
        input=files.docx(paras),
        gold=files.docx([new, *paras[1:]]),
        metric="compare_docx_files",
        expert=[
            "pyautogui.hotkey('ctrl', 'home')",
            "pyautogui.hotkey('shift', 'end')",
            typed(new),
            SAVE,
        ],
    )


def _delete_paragraph(rng: random.Random) -> GenTask:
    name, paras = _doc(rng)
    k = rng.randint(1, len(paras) - 1)  # never the title
    keys = ["pyautogui.hotkey('ctrl', 'home')"]
    keys += ["pyautogui.press('down')"] * k
    keys += ["pyautogui.press('home')", "pyautogui.hotkey('shift', 'down')"]
    if k == len(paras) - 1:  # the last paragraph: take the break before it instead
        keys = [*keys[:-2], "pyautogui.press('end')", "pyautogui.hotkey('shift', 'up')",
                "pyautogui.hotkey('shift', 'end')"]  # fmt: skip
    return GenTask(
        family="writer-delete-paragraph",
        app="writer",
        instruction=f"In {name}, delete the paragraph '{paras[k]}' and save.",
        filename=name,
        input=files.docx(paras),
        gold=files.docx([p for i, p in enumerate(paras) if i != k]),
        metric="compare_docx_files",
        expert=[*keys, "pyautogui.press('delete')", SAVE],
    )


def _center_title(rng: random.Random) -> GenTask:
    name, paras = _doc(rng)
    return GenTask(
        family="writer-center-title",
        app="writer",
        instruction=f"In {name}, centre the title line '{paras[0]}' and save.",
        filename=name,
        input=files.docx(paras),
        gold=None,  # the metric reads the result alone
        metric="is_first_line_centered",
        expert=["pyautogui.hotkey('ctrl', 'home')", "pyautogui.hotkey('ctrl', 'e')", SAVE],
    )


def _infeasible(rng: random.Random) -> GenTask:
    name, paras = _doc(rng)
    ask = rng.choice(
        [
            "turn on Microsoft Word's Copilot and let it rewrite the text",
            "share this document for live co-editing in Google Docs",
            "dictate the rest of the document with the microphone",
        ]
    )
    return GenTask(
        family="writer-infeasible",
        app="writer",
        instruction=f"In {name}, {ask}.",
        filename=name,
        input=files.docx(paras),
        gold=None,
        metric="infeasible",
        expert=["FAIL"],
    )


FAMILIES = [
    Family("writer-append-paragraph", "writer", "train", _append),
    Family("writer-retitle", "writer", "test", _retitle),
    Family("writer-delete-paragraph", "writer", "train", _delete_paragraph),
    Family("writer-center-title", "writer", "test", _center_title),
    Family("writer-infeasible", "writer", "test", _infeasible),
]
