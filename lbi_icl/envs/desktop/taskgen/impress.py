"""LibreOffice Impress task families, scored by OSWorld's `compare_pptx_files` on the slides'
number and text (and bold/italic/underline; shape geometry, font names/sizes, colours and
alignment, bullets and backgrounds are not compared: LibreOffice rewrites them on save;
measured: with them compared, an unchanged round trip through LibreOffice scores 0)."""

from __future__ import annotations

import random

from lbi_icl.envs.desktop.taskgen import files
from lbi_icl.envs.desktop.taskgen.spec import SAVE, Family, GenTask, typed

TOPICS = ["Roadmap", "Budget", "Hiring", "Launch Plan", "Risks", "Timeline", "Results",
          "Next Steps", "Customers", "Marketing"]  # fmt: skip
POINTS = ["Ship the beta", "Cut costs by 5%", "Hire two engineers", "Open the Berlin office",
          "Renew the contracts", "Train the support team", "Update the website",
          "Review the pricing"]  # fmt: skip
NAMES = ["kickoff", "review", "quarterly", "strategy", "update", "overview", "briefing"]
OPTIONS = {
    "enable_debug": False,
    "examine_shape": False,
    "examine_indent": False,
    "examine_font_name": False,
    "examine_font_size": False,
    "examine_color_rgb": False,
    "examine_alignment": False,
    "examine_bullets": False,  # LibreOffice writes its own bullet and background settings
    "examine_background_color": False,
}


def _deck(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    titles = rng.sample(TOPICS, rng.randint(2, 4))
    return f"{rng.choice(NAMES)}.pptx", [(t, rng.choice(POINTS)) for t in titles]


def _goto_slide(k: int) -> list[str]:
    """Normal view, nothing selected: Home = first slide, Page Down = next."""
    return ["pyautogui.press('escape')", "pyautogui.press('home')"] + [
        "pyautogui.press('pagedown')"
    ] * k


def _retitle(rng: random.Random) -> GenTask:
    name, slides = _deck(rng)
    k = rng.randrange(len(slides))
    new = rng.choice([t for t in TOPICS if t not in {s[0] for s in slides}])
    gold = [(new, b) if i == k else (t, b) for i, (t, b) in enumerate(slides)]
    return GenTask(
        family="impress-retitle",
        app="impress",
        instruction=f"In {name}, change the title of slide {k + 1} ('{slides[k][0]}') to "
        f"'{new}' and save.",
        filename=name,
        input=files.pptx(slides),
        gold=files.pptx(gold),
        metric="compare_pptx_files",
        options=OPTIONS,
        expert=[
            *_goto_slide(k),
            "pyautogui.press('tab')",
            "pyautogui.press('enter')",
            "pyautogui.hotkey('ctrl', 'a')",
            typed(new),
            "pyautogui.press('escape')",
            "pyautogui.press('escape')",
            SAVE,
        ],
    )


def _edit_body(rng: random.Random) -> GenTask:
    name, slides = _deck(rng)
    k = rng.randrange(len(slides))
    new = rng.choice([p for p in POINTS if p != slides[k][1]])
    gold = [(t, new) if i == k else (t, b) for i, (t, b) in enumerate(slides)]
    return GenTask(
        family="impress-edit-body",
        app="impress",
        instruction=f"In {name}, replace the text of slide {k + 1}'s content box "
        f"('{slides[k][1]}') with '{new}' and save.",
        filename=name,
        input=files.pptx(slides),
        gold=files.pptx(gold),
        metric="compare_pptx_files",
        options=OPTIONS,
        expert=[
            *_goto_slide(k),
            "pyautogui.press('tab')",
            "pyautogui.press('tab')",
            "pyautogui.press('enter')",
            "pyautogui.hotkey('ctrl', 'a')",
            typed(new),
            "pyautogui.press('escape')",
            "pyautogui.press('escape')",
            SAVE,
        ],
    )


def _infeasible(rng: random.Random) -> GenTask:
    name, slides = _deck(rng)
    ask = rng.choice(
        [
            "publish this presentation as a live PowerPoint Online broadcast",
            "turn on PowerPoint Designer to restyle every slide",
            "record a voice-over for every slide with the microphone",
        ]
    )
    return GenTask(
        family="impress-infeasible",
        app="impress",
        instruction=f"In {name}, {ask}.",
        filename=name,
        input=files.pptx(slides),
        gold=None,
        metric="infeasible",
        expert=["FAIL"],
    )


FAMILIES = [
    Family("impress-retitle", "impress", "train", _retitle),
    Family("impress-edit-body", "impress", "test", _edit_body),
    Family("impress-infeasible", "impress", "train", _infeasible),
]
