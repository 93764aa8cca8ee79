"""The desktop envs' documentation: the action space (for the system prompt) and short
hand-written guides to LibreOffice Calc, Writer and Impress (self-instruct and `rag`)."""

from __future__ import annotations

from lbi_icl.data import Document

PYAUTOGUI_TEXT = """\
You control a Linux desktop (1920x1080) with LibreOffice through Python's pyautogui, as in
OSWorld. The observation is the accessibility tree as a table: tag, name, text, class,
description, position (top-left x&y), size (w&h). To click an element, click its centre
(x + w/2, y + h/2).
Answer with one action on the Action: line. An action is one line of Python using pyautogui
(and time); separate several statements with ';'. For example:
  pyautogui.click(120, 167)
  pyautogui.typewrite('Total')
  pyautogui.press('enter')
  pyautogui.hotkey('ctrl', 's')
  pyautogui.hotkey('ctrl', 'shift', 'f5'); pyautogui.typewrite('B7\\n')
Or one of the special actions:
  WAIT  (nothing to do until the screen changes)
  DONE  (the task is complete)
  FAIL  (the task cannot be done)
Save the document (Ctrl+S) before DONE: the result is read from the saved file."""

COMPUTER13_TEXT = """\
You control a Linux desktop (1920x1080) with LibreOffice, as in OSWorld's computer_13
action space. The observation is the accessibility tree as a table (tag, name, text, class,
description, position, size). Answer with one JSON object on the Action: line, e.g.
  {"action_type": "CLICK", "x": 120, "y": 167}
  {"action_type": "TYPING", "text": "Total"}
  {"action_type": "PRESS", "key": "enter"}
  {"action_type": "HOTKEY", "keys": ["ctrl", "s"]}
Other types: MOVE_TO, RIGHT_CLICK, DOUBLE_CLICK, DRAG_TO, SCROLL (dx/dy), MOUSE_DOWN,
MOUSE_UP, KEY_DOWN, KEY_UP; or WAIT, DONE, FAIL (as plain words)."""

GUIDES = {
    "calc": (
        "LibreOffice Calc: moving and editing cells",
        "Jump to a cell or range: Ctrl+Shift+F5 focuses the Name Box; type B7 (or A1:C10) and "
        "press Enter. Type a value or a formula (=SUM(B2:B6), =AVERAGE(B2:B6), =MAX(...), "
        "=MIN(...), =B2*C2) and press Enter to store it; Tab stores it and moves right. "
        "Ctrl+Home goes to A1, Ctrl+End to the last used cell. Ctrl+B bolds, Ctrl+I italics, "
        "Ctrl+U underlines the selection. Ctrl+Shift+5 formats as percent, Ctrl+Shift+4 as "
        "currency, Ctrl+Shift+1 as a number with two decimals. Delete clears the selected "
        "cells. Ctrl+S saves (the file keeps its format). Ctrl+Z undoes.",
    ),
    "calc-sheets": (
        "LibreOffice Calc: rows, columns and sheets",
        "Select a whole row with Shift+Space, a whole column with Ctrl+Space. Ctrl+- deletes "
        "the selected rows or columns, Ctrl++ inserts. Sort: select the range, then "
        "Data > Sort Ascending / Sort Descending (toolbar buttons 'Sort Ascending', 'Sort "
        "Descending'). Rename a sheet: Sheet > Rename Sheet, type the name, Enter. Insert a "
        "sheet at the end: Sheet > Insert Sheet at End.",
    ),
    "writer": (
        "LibreOffice Writer: text and formatting",
        "Type text where the cursor is; Enter starts a new paragraph. Ctrl+Home / Ctrl+End go "
        "to the start / end of the document; Shift with arrows or Ctrl+A selects. Ctrl+B, "
        "Ctrl+I, Ctrl+U set bold, italic, underline; Ctrl+E centres, Ctrl+L / Ctrl+R align "
        "left / right, Ctrl+J justifies. Ctrl+1, Ctrl+2 apply Heading 1, Heading 2; Ctrl+0 "
        "body text. Ctrl+Enter inserts a page break. Ctrl+H opens Find and Replace. Ctrl+S "
        "saves in the file's own format.",
    ),
    "impress": (
        "LibreOffice Impress: slides",
        "The slide pane on the left lists the slides; the current slide is in the middle. "
        "Tab selects the next object on the slide (title, then content placeholder); Enter "
        "edits the selected object's text and Escape leaves it. Select all text in an object "
        "with Ctrl+A while editing. Slide > New Slide (Ctrl+M) adds a slide after the "
        "current one; in the slide pane Delete removes the selected slide. Ctrl+S saves.",
    ),
}


def action_space_text(space: str) -> str:
    return COMPUTER13_TEXT if space == "computer_13" else PYAUTOGUI_TEXT


def app_documents(env: str) -> list[Document]:
    docs = [Document(id=f"{env}/actions", env=env, title="Actions", text=PYAUTOGUI_TEXT)]
    for key, (title, text) in GUIDES.items():
        docs.append(Document(id=f"{env}/guide/{key}", env=env, title=title, text=text))
    return docs
