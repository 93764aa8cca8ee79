"""Solvers for MiniWoB's widget tasks: drop-downs, autocomplete, lists, trees, search
results, social media feeds, number buttons."""

from __future__ import annotations

import re

from lbi_icl.envs.browsergym.experts.base import Memory, click, find_text, quoted, solves, type_text
from lbi_icl.envs.browsergym.experts.dom import Page


@solves("choose-list")
def choose_list(page: Page, mem: Memory) -> str | None:
    """'Select Barbados from the list and click Submit.' (`miniwob_all` has no
    select_option: focus the drop-down with a click, type the option's name, Submit)."""
    m = re.match(r"Select (.+) from the list and click Submit", page.goal)
    select = page.area().find("select")
    if m is None or select is None:
        return None
    want = m.group(1)
    chosen = next((o.text() for o in select.find_all("option") if o.selected), None)
    if chosen == want:
        btn = find_text(page.area().find_all("button"), "Submit")
        return click(btn) if btn else None
    if page.focused != select.bid:
        return click(select)
    return type_text(want)


def _noop(ms: int = 500) -> str:
    return f"noop({ms})"


@solves("use-autocomplete", "use-autocomplete-nodelay")
def use_autocomplete(page: Page, mem: Memory) -> str | None:
    """'Enter an item that starts with "Ge" and ends with "ny".': type the start, pick a
    suggestion that also has the right end (the list only shows once typed), Submit."""
    parts = quoted(page.goal)
    box, submit = page.by_id("tags"), page.by_id("subbtn")
    if not parts or box is None or submit is None:
        return None
    start, end = parts[0], parts[1] if len(parts) > 1 else ""
    if box.value.startswith(start) and box.value.endswith(end) and (end or mem.get("typed")):
        return click(submit)
    items = [
        li
        for li in page.find_all("li", cls="ui-menu-item")
        if li.visible and li.text().startswith(start) and li.text().endswith(end)
    ]
    if items:
        return click(items[0])
    if box.value != start:
        mem["typed"] = True
        if page.focused != box.bid:
            return click(box)
        return type_text(start)
    mem["waits"] = mem.get("waits", 0) + 1
    return _noop() if mem["waits"] <= 2 else None


@solves("navigate-tree")
def navigate_tree(page: Page, mem: Memory) -> str | None:
    """'Navigate through the file tree. Find and click on the folder or file named "X".':
    open the outermost closed folder above it, then click it."""
    (name,) = quoted(page.goal)[:1] or [""]
    tree = page.by_id("tree")
    if tree is None:
        return None
    spans = [s for s in tree.find_all("span") if s.text() == name]
    shown = [s for s in spans if s.visible]
    if shown:
        return click(shown[0])
    if not spans:
        return None
    closed = [a for a in spans[0].ancestors() if a.tag == "li" and a.has_class("expandable")]
    if not closed:
        return None
    folder = closed[-1].find("div", cls="hitarea") or closed[-1].find("span", cls="folder")
    return click(folder) if folder else None


_SOCIAL = {
    "Reply": "reply",
    "Retweet": "retweet",
    "Like": "like",
    "Share": "share",
    "Share via DM": "share",
    "Copy link to Tweet": "copy",
    "Embed Tweet": "embed",
    "Mute": "menu-user",
    "Block": "block-user",
    "Report": "report",
}


def _posts_by(page: Page, user: str) -> list:
    return [
        m
        for m in page.area().find_all("div", cls="media")
        if (u := m.find(cls="username")) is not None and u.text() == user
    ]


@solves("social-media")
def social_media(page: Page, mem: Memory) -> str | None:
    """'For the user @ipsum, click on the "Retweet" button.' (menu items: open the post's
    "more" menu first)."""
    m = re.search(r"For the user (\S+), click on the \"(.+?)\" button", page.goal)
    if m is None:
        return None
    posts = _posts_by(page, m.group(1))
    kind = _SOCIAL.get(m.group(2))
    if not posts or kind is None:
        return None
    post = posts[0]
    target = post.find(cls=kind)
    if target is None:
        return None
    menu = post.find("ul")
    if kind in ("reply", "retweet", "like") or (menu is not None and not menu.has_class("hide")):
        return click(target)
    more = post.find(cls="more")
    return click(more) if more else None


_SOCIAL_MANY = re.compile(
    r"Click the \"(.+?)\" button on (all|\d+) posts? by (\S+) and then click Submit"
)


@solves("social-media-all", "social-media-some")
def social_media_many(page: Page, mem: Memory) -> str | None:
    """'Click the "Like" button on all posts by @x and then click Submit.' / '... on 2
    posts by @x ...': toggle the buttons (their `active` class says which are on)."""
    m = _SOCIAL_MANY.search(page.goal)
    if m is None:
        return None
    kind = _SOCIAL.get(m.group(1))
    buttons = [b for p in _posts_by(page, m.group(3)) if (b := p.find(cls=kind)) is not None]
    wanted = len(buttons) if m.group(2) == "all" else int(m.group(2))
    active = [b for b in buttons if b.has_class("active")]
    if len(active) < wanted:
        return click(next(b for b in buttons if not b.has_class("active")))
    if len(active) > wanted:
        return click(active[-1])
    submit = find_text(page.area().find_all("button"), "Submit")
    return click(submit) if submit else None


@solves("odd-or-even")
def odd_or_even(page: Page, mem: Memory) -> str | None:
    """'Mark the numbers below as odd or even and press submit when done.'"""
    for row in page.area().find_all("div", cls="row"):
        shown = row.find(cls="display-number")
        try:
            number = int(shown.text()) if shown else None
        except ValueError:
            return None
        if number is None:
            return None
        want = row.find("button", cls="odd" if number % 2 else "even")
        if want is not None and not want.has_class("selected"):
            return click(want)
    submit = page.by_id("submit")
    return click(submit) if submit else None


@solves("click-color")
def click_color(page: Page, mem: Memory) -> str | None:
    """'Click on the pink colored box.'"""
    m = re.search(r"Click on the (\S+) colored box", page.goal)
    if m is None:
        return None
    box = page.area().find("div", where=lambda d: d.attrs.get("data-color") == m.group(1))
    return click(box) if box else None


@solves("identify-shape")
def identify_shape(page: Page, mem: Memory) -> str | None:
    """'Click the button that best describes the figure below.': the one SVG shape."""
    svg = page.by_id("area_svg")
    kinds = {"rect": "rectangle", "circle": "circle", "polygon": "triangle"}
    for el in svg.iter() if svg else []:
        if el.tag in kinds:
            kind = kinds[el.tag]
            break
        if el.tag == "text":
            kind = "digit" if el.text().isdigit() else "letter"
            break
    else:
        return None
    btn = page.find("button", where=lambda b: b.attrs.get("data-type") == kind)
    return click(btn) if btn else None
