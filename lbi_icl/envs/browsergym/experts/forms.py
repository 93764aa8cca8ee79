"""Solvers for MiniWoB's typing tasks: text fields, passwords, logins, dates and times,
values read off the page (tables, text areas, paragraphs, math problems), movie forms."""

from __future__ import annotations

import re

from lbi_icl.envs.browsergym.experts.base import (
    Memory,
    click,
    fill,
    find_text,
    ordinal,
    quoted,
    solves,
)
from lbi_icl.envs.browsergym.experts.dom import El, Page


def _submit(page: Page) -> El | None:
    return page.by_id("subbtn")


def fill_then(page: Page, values: list[tuple[El | None, str]], final: El | None) -> str | None:
    """Fill each field that does not hold its value yet (in order), then click `final`."""
    for el, text in values:
        if el is None:
            return None
        if el.value != text:
            return fill(el, text)
    return click(final) if final is not None else None


@solves("enter-text", "enter-text-dynamic")
def enter_text(page: Page, mem: Memory) -> str | None:
    """'Enter "Myron" into the text field and press Submit.'"""
    (text,) = quoted(page.goal)[:1] or [""]
    return fill_then(page, [(page.by_id("tt"), text)], _submit(page))


@solves("enter-text-2")
def enter_text_2(page: Page, mem: Memory) -> str | None:
    """'Type "ANNA" in all lower case letters in the text input and press Submit.'"""
    (text,) = quoted(page.goal)[:1] or [""]
    text = text.lower() if "lower case" in page.goal else text.upper()
    return fill_then(page, [(page.by_id("tt"), text)], _submit(page))


@solves("enter-password")
def enter_password(page: Page, mem: Memory) -> str | None:
    """'Enter the password "Tn" into both text fields and press submit.'"""
    (pw,) = quoted(page.goal)[:1] or [""]
    fields = [(page.by_id("password"), pw), (page.by_id("verify"), pw)]
    return fill_then(page, fields, _submit(page))


@solves("login-user", "login-user-popup")
def login_user(page: Page, mem: Memory) -> str | None:
    """'Enter the username "kanesha" and the password "Ugp" into the text fields and press
    login.' A pop-up that may appear when a field gets focus is dismissed with Cancel."""
    popup = page.by_id("popup-cancel")
    if popup is not None and popup.visible:
        return click(popup)
    user, pw = [*quoted(page.goal), "", ""][:2]
    fields = [(page.by_id("username"), user), (page.by_id("password"), pw)]
    return fill_then(page, fields, _submit(page))


@solves("enter-date")
def enter_date(page: Page, mem: Memory) -> str | None:
    """'Enter 03/14/2015 as the date and hit submit.' (a date input takes yyyy-mm-dd)."""
    m = re.search(r"(\d{2})/(\d{2})/(\d{4})", page.goal)
    if m is None:
        return None
    iso = f"{m.group(3)}-{m.group(1)}-{m.group(2)}"
    return fill_then(page, [(page.by_id("tt"), iso)], _submit(page))


@solves("enter-time")
def enter_time(page: Page, mem: Memory) -> str | None:
    """'Enter 3:42 PM as the time and press submit.' (a time input takes HH:MM, 24 h)."""
    m = re.search(r"(\d{1,2}):(\d{2})\s*([AP]M)", page.goal)
    if m is None:
        return None
    hour = int(m.group(1)) % 12 + (12 if m.group(3) == "PM" else 0)
    return fill_then(page, [(page.by_id("tt"), f"{hour:02d}:{m.group(2)}")], _submit(page))


@solves("read-table")
def read_table(page: Page, mem: Memory) -> str | None:
    """'Enter the value of Color into the text field and press Submit.'"""
    m = re.search(r"value of (.+?) into the text field", page.goal)
    if m is None:
        return None
    value = _table_value(page, m.group(1))
    if value is None:
        return None
    return fill_then(page, [(page.by_id("tt"), value)], _submit(page))


def _table_value(page: Page, key: str) -> str | None:
    for row in page.area().find_all("tr"):
        cells = row.find_all("td")
        if len(cells) >= 2 and cells[0].text() == key:
            return cells[1].text()
    return None


@solves("read-table-2")
def read_table_2(page: Page, mem: Memory) -> str | None:
    """'Enter the value that corresponds with each label into the form and submit when
    done.': each label (`#ll1`, `#ll2`, 'Color:') names a table row."""
    values = []
    for n in ("1", "2"):
        label = page.by_id(f"ll{n}")
        key = label.attrs.get("data-key") or label.text().rstrip(":") if label else ""
        value = _table_value(page, key)
        if value is None:
            return None
        values.append((page.by_id(f"tt{n}"), value))
    return fill_then(page, values, _submit(page))


@solves("copy-paste")
def copy_paste(page: Page, mem: Memory) -> str | None:
    """'Copy the text in the textarea below, paste it into the textbox and press Submit.'"""
    area = page.by_id("to-copy")
    if area is None:
        return None
    return fill_then(page, [(page.by_id("answer-input"), area.value)], _submit(page))


@solves("copy-paste-2")
def copy_paste_2(page: Page, mem: Memory) -> str | None:
    """'Copy the text from the 2nd text area below and paste it into the text input, then
    press Submit.'"""
    m = re.search(r"from the (\w+) text area", page.goal)
    n = ordinal(m.group(1)) if m else None
    area = page.by_id(f"text-{n}") if n else None
    if area is None:
        return None
    return fill_then(page, [(page.by_id("answer-input"), area.value)], _submit(page))


@solves("find-word")
def find_word(page: Page, mem: Memory) -> str | None:
    """'Find the 3rd word in the paragraph, type that into the textbox and press "Submit".'"""
    m = re.search(r"Find the (\w+) word", page.goal)
    n = ordinal(m.group(1)) if m else None
    para = page.area().find("p")
    if n is None or para is None:
        return None
    words = para.text().split()
    if n > len(words):
        return None
    word = re.sub(r"[^a-zA-Z]", "", words[n - 1])
    return fill_then(page, [(page.by_id("answer-input"), word)], _submit(page))


@solves("scroll-text")
def scroll_text(page: Page, mem: Memory) -> str | None:
    """'Find the last word in the text area, enter it into the text field and hit Submit.'"""
    area = page.by_id("text-area")
    words = (area.value or area.text()).split() if area else []
    if not words:
        return None
    word = words[-1].replace(".", "")
    return fill_then(page, [(page.by_id("answer-input"), word)], _submit(page))


_MATH = re.compile(r"(-?\d+)\s*([+\-x])\s*(-?\d+)\s*=")
_ALGEBRA = re.compile(r"^\s*(x|-?\d+)\s*([+\-])\s*(x|-?\d+)\s*=\s*(-?\d+)\s*$")


@solves("simple-arithmetic")
def simple_arithmetic(page: Page, mem: Memory) -> str | None:
    """The page shows '4 x 7 = '."""
    problem = page.by_id("math-problem")
    m = _MATH.search(problem.text() if problem else "")
    if m is None:
        return None
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    answer = a + b if op == "+" else a - b if op == "-" else a * b
    return fill_then(page, [(page.by_id("math-answer"), str(answer))], _submit(page))


@solves("simple-algebra")
def simple_algebra(page: Page, mem: Memory) -> str | None:
    """The page shows 'x - 3 = 5' or '8 - x = 2' (solve for x)."""
    problem = page.by_id("math-problem")
    m = _ALGEBRA.match(problem.text() if problem else "")
    if m is None:
        return None
    left, op, right, total = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if left == "x":
        x = total - int(right) if op == "+" else total + int(right)
    else:
        x = total - int(left) if op == "+" else int(left) - total
    return fill_then(page, [(page.by_id("math-answer"), str(x))], _submit(page))


@solves("text-transform")
def text_transform(page: Page, mem: Memory) -> str | None:
    """'Type the text below into the text field and press Submit.': the skewed letters of
    `#captcha`, one span each."""
    captcha = page.by_id("captcha")
    if captcha is None:
        return None
    text = "".join(s.text() for s in captcha.find_all("span"))
    return fill_then(page, [(page.by_id("tt"), text)], _submit(page))


_MOVIE = re.compile(r"Search for (.+?) movies directed by (.+?) from year (\d+)")
_FIELDS = (("genre", "genre"), ("director", "name"), ("year", "year"), ("released", "year"))


@solves("multi-layouts", "multi-orderings")
def multi_layouts(page: Page, mem: Memory) -> str | None:
    """'Search for comedy movies directed by Smith from year 1999.' in one of five form
    layouts: each text field is named by the nearest label around it."""
    m = _MOVIE.search(page.goal)
    if m is None:
        return None
    want = {"genre": m.group(1), "name": m.group(2), "year": m.group(3)}
    values: list[tuple[El | None, str]] = []
    for box in page.area().find_all("input"):
        field = _field_of(box)
        if field is None:
            return None
        values.append((box, want[field]))
    final = find_text(
        page.area().find_all(where=lambda e: e.tag in ("button", "div")),
        next(
            (w for w in ("Submit", "Search", "Go!") if page.area().find(text=w) is not None),
            "Submit",
        ),
    )
    return fill_then(page, values, final)


def _field_of(box: El) -> str | None:
    for anc in box.ancestors():
        text = anc.text().lower()
        hits = {f for key, f in _FIELDS if key in text}
        if len(hits) == 1:
            return hits.pop()
        if len(hits) > 1:
            return None
    return None
