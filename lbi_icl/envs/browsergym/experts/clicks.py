"""Solvers for MiniWoB's clicking tasks: buttons, links, checkboxes, radios, tabs,
collapsible sections, dialogs, widgets, focus."""

from __future__ import annotations

import re

from lbi_icl.envs.browsergym.experts.base import (
    Memory,
    click,
    click_uncovered,
    find_text,
    ordinal,
    quoted,
    solves,
    visible,
)
from lbi_icl.envs.browsergym.experts.dom import El, Page


def _submit(page: Page) -> El | None:
    return page.by_id("subbtn") or find_text(page.area().find_all("button"), "Submit")


@solves("click-button", "unicode-test")
def click_button(page: Page, mem: Memory) -> str | None:
    """'Click on the "submit" button.'"""
    (name,) = quoted(page.goal)[:1] or [""]
    btn = find_text(visible(page.area().find_all("button")), name)
    return click(btn) if btn else None


@solves("click-button-sequence")
def click_button_sequence(page: Page, mem: Memory) -> str | None:
    """'Click button ONE, then click button TWO.'"""
    first, second = page.by_id("subbtn"), page.by_id("subbtn2")
    if not mem.get("one") and first is not None:
        mem["one"] = True
        return click_uncovered(first, [second] if second else [])
    return click(second) if second else None


@solves("click-test", "click-test-2", "click-test-transfer")
def click_test(page: Page, mem: Memory) -> str | None:
    """'Click the button.' / 'Click button ONE.' / 'Click button TWO.'"""
    m = re.search(r"button (\w+)\.", page.goal)
    buttons = visible(page.area().find_all("button"))
    if m:
        btn = find_text(buttons, m.group(1))
    else:
        btn = page.by_id("subbtn") or (buttons[0] if buttons else None)
    # the two buttons are placed at random and can overlap: click where the other is not
    later = buttons[buttons.index(btn) + 1 :] if btn in buttons else []
    return click_uncovered(btn, later) if btn else None


def _boxes_to_check(goal: str) -> set[str]:
    m = re.match(r"Select (.*) and click Submit\.?$", goal.strip())
    if not m or m.group(1) == "nothing":
        return set()
    return {w.strip() for w in m.group(1).split(",") if w.strip()}


@solves("click-checkboxes", "click-checkboxes-transfer", "click-option")
def click_checkboxes(page: Page, mem: Memory) -> str | None:
    """'Select TtlhR, Gh and click Submit.' (checkboxes), 'Select eGhdQ and click Submit.'
    (radios): toggle each box whose label state is wrong, then Submit."""
    want = _boxes_to_check(page.goal)
    for label in page.area().find_all("label"):
        box = label.find("input")
        if box is None:
            continue
        should = label.text() in want
        if box.checked != should and not (box.attrs.get("type") == "radio" and not should):
            return click(box)
    btn = _submit(page)
    return click(btn) if btn else None


def _link(page: Page, name: str) -> El | None:
    """The link whose text is exactly `name` (the task checks the exact text), a visible
    one first; only when none is exact, one that differs in case or end punctuation."""
    links = page.area().find_all("span", cls="alink")
    exact = [a for a in links if a.text() == name]
    if exact:
        return next((a for a in exact if a.visible), exact[0])
    return find_text(visible(links), name) or find_text(links, name)


@solves("click-link")
def click_link(page: Page, mem: Memory) -> str | None:
    """'Click on the link "Proin".'"""
    (name,) = quoted(page.goal)[:1] or [""]
    link = _link(page, name)
    return click(link) if link else None


@solves("click-collapsible", "click-collapsible-nodelay")
def click_collapsible(page: Page, mem: Memory) -> str | None:
    """'Expand the section below and click submit.'"""
    btn = page.by_id("subbtn")
    header = page.area().find("h3")
    if header is not None and header.attrs.get("aria-expanded") != "true":
        return click(header)
    if btn is not None and btn.visible:
        return click(btn)
    return None


@solves("click-collapsible-2", "click-collapsible-2-nodelay")
def click_collapsible_2(page: Page, mem: Memory) -> str | None:
    """'Expand the sections below, to find and click on the link "proin".': open the
    section holding the link (jQuery accordion: one open at a time), then click it."""
    (name,) = quoted(page.goal)[:1] or [""]
    target = _link(page, name)
    if target is None or target.visible:
        return click(target) if target else None
    panel = next((a for a in target.ancestors() if a.attrs.get("role") == "tabpanel"), None)
    header = page.find(id=panel.attrs.get("aria-labelledby", "")) if panel else None
    return click(header) if header else None


@solves("click-tab")
def click_tab(page: Page, mem: Memory) -> str | None:
    """'Click on Tab #3.'"""
    m = re.search(r"Tab #(\d+)", page.goal)
    tabs = page.area().find_all("a", cls="ui-tabs-anchor")
    tab = find_text(tabs, f"Tab #{m.group(1)}") if m else None
    return click(tab) if tab else None


@solves("click-tab-2", "click-tab-2-easy", "click-tab-2-medium", "click-tab-2-hard")
def click_tab_2(page: Page, mem: Memory) -> str | None:
    """'Switch between the tabs to find and click on the link "proin".'"""
    (name,) = quoted(page.goal)[:1] or [""]
    target = _link(page, name)
    if target is None:
        # click-tab-2-medium empties tab 2 after choosing the link: when the link is gone,
        # the answer is a click on that tab
        tabs = page.area().find_all("li", cls="ui-tab")
        return click(tabs[1]) if len(tabs) > 1 else None
    if target.visible:
        return click(target)
    panel = next((a for a in target.ancestors() if a.attrs.get("role") == "tabpanel"), None)
    if panel is None:
        return None
    tab = page.find("a", where=lambda a: a.attrs.get("href") == f"#{panel.id}")
    return click(tab) if tab else None


@solves("click-dialog")
def click_dialog(page: Page, mem: Memory) -> str | None:
    """'Close the dialog box by clicking the "x".'"""
    close = page.find("button", where=lambda b: b.attrs.get("title") == "Close")
    return click(close) if close else None


@solves("click-dialog-2")
def click_dialog_2(page: Page, mem: Memory) -> str | None:
    """'Click the button in the dialog box labeled "OK".' ("x" is the close button)."""
    (name,) = quoted(page.goal)[:1] or [""]
    if name == "x":
        return click_dialog(page, mem)
    pane = page.find(cls="ui-dialog-buttonset")
    btn = find_text(pane.find_all("button"), name) if pane else None
    return click(btn) if btn else None


_WIDGET = {
    "radio": lambda e: e.tag == "input" and e.attrs.get("type") == "radio",
    "checkbox": lambda e: e.tag == "input" and e.attrs.get("type") == "checkbox",
    "text": lambda e: e.tag == "input" and e.attrs.get("data-type") == "text",
    "textarea": lambda e: e.tag == "textarea",
    "button": lambda e: e.tag == "button",
}


@solves("click-widget")
def click_widget(page: Page, mem: Memory) -> str | None:
    """'Click on a "checkbox" widget.'"""
    (kind,) = quoted(page.goal)[:1] or [""]
    test = _WIDGET.get(kind)
    if test is None:
        return None
    for widget in page.area().find_all("div", cls="widget"):
        el = next((e for e in widget.iter() if e is not widget and test(e)), None)
        if el is not None:
            return click(el)
    return None


@solves("focus-text", "focus-text-2")
def focus_text(page: Page, mem: Memory) -> str | None:
    """'Focus into the textbox.' / 'Focus into the 2nd input textbox.'"""
    boxes = page.area().find_all("input")
    m = re.search(r"the (\w+) input", page.goal)
    n = ordinal(m.group(1)) if m else 1
    if not boxes or n is None or n > len(boxes):
        return None
    return click(boxes[n - 1])
