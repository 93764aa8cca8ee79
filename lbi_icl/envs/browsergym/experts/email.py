"""Solvers for MiniWoB's email-inbox tasks: find the sender's email, then delete it, star
it, reply to it or forward it. The natural-language variants (`-nl`, `-nl-turk`) word the
same four requests in free text; the sender is the name that is in the inbox."""

from __future__ import annotations

import re

from lbi_icl.envs.browsergym.experts.base import Memory, click, fill, quoted, solves
from lbi_icl.envs.browsergym.experts.dom import El, Page

_BY = re.compile(r"Find the email by (.+?) and (.+)$")


def _request(page: Page, senders: list[str]) -> tuple[str, str, str] | None:
    """(action, sender, argument): action delete | important | reply | forward."""
    goal = page.goal.strip()
    m = _BY.match(goal)
    if m:
        who, rest = m.group(1), m.group(2)
        if "trash" in rest:
            return "delete", who, ""
        if "star" in rest:
            return "important", who, ""
        if rest.startswith("reply"):
            return "reply", who, (quoted(rest) or [""])[0]
        f = re.match(r"forward that email to (.+?)\.?$", rest)
        return ("forward", who, f.group(1)) if f else None
    return _free_text(goal, senders)


_NAME = r"([A-Z][a-z]+(?:-[A-Z][a-z]+)?)"
_SENDER = [
    re.compile(p)
    for p in (
        rf"(?:from|by) {_NAME}",
        rf"{_NAME}'s",
        rf"{_NAME} (?:sent|wrote)",
        rf"(?:email|e-mail|message|mail) {_NAME}\b",
        rf"the {_NAME} (?:email|e-mail|message)",
    )
]
_DEST = [
    re.compile(p)
    for p in (
        rf"\bto {_NAME}",
        rf"(?:[Ff]orward|[Ss]end|[Gg]ive|[Ll]et) {_NAME}\b",
        rf"^{_NAME} (?:must|should|needs)",
    )
]


def _free_text(goal: str, senders: list[str]) -> tuple[str, str, str] | None:
    """A request in free text: the sender is named after 'from' / 'by' / before "'s" (or
    is the one name in the inbox), the forward destination after 'to' (or the other)."""
    words = re.findall(r"(?<![\w'])" + _NAME, goal)
    names = [n for n in dict.fromkeys(words) if n not in _COMMON and not goal.startswith(n + " ")]
    names += [n for n in dict.fromkeys(words) if goal.startswith(n + " ") and n in senders]
    who = next((m.group(1) for p in _SENDER for m in p.finditer(goal) if m.group(1) in names), None)
    if who is None:
        inbox = [n for n in names if n in senders]
        who = inbox[0] if len(inbox) == 1 else None
    if who is None:
        return None
    low = goal.lower()
    text = quoted(goal)
    if text:  # every reply request quotes its message
        return "reply", who, text[0]
    if any(w in low for w in ("delete", "trash", "remove", "discard", "get rid", "erase")):
        return "delete", who, ""
    if any(w in low for w in ("star", "important", "flag", "mark")):
        return "important", who, ""
    dest = next((m.group(1) for p in _DEST for m in p.finditer(goal) if m.group(1) != who), None)
    others = [n for n in names if n != who]
    dest = dest if dest in others else (others[0] if len(others) == 1 else dest)
    return ("forward", who, dest) if dest else None


_COMMON = {
    "Find", "Forward", "Send", "Give", "Copy", "Reply", "Delete", "Please", "Can", "I",
    "Search", "Go", "Let", "Look", "Locate", "Open", "Get", "Take", "Could", "Would",
    "Automatically", "Ask", "Email", "Mail", "The", "In", "Retrieve", "Pass", "Share",
    "Star", "Mark", "Remove", "Trash", "Respond", "Answer", "Write", "Make", "Put", "FOrward",
    "Foward", "DEST", "NAME",
}  # fmt: skip


def _thread(page: Page, sender: str) -> El | None:
    main = page.by_id("main")
    for t in main.find_all("div", cls="email-thread") if main else []:
        s = t.find(cls="email-sender")
        if s is not None and s.text() == sender:
            return t
    return None


@solves(
    "email-inbox",
    "email-inbox-delete",
    "email-inbox-forward",
    "email-inbox-important",
    "email-inbox-noscroll",
    "email-inbox-reply",
    "email-inbox-star-reply",
    "email-inbox-forward-nl",
    "email-inbox-forward-nl-turk",
    "email-inbox-nl-turk",
)
def email_inbox(page: Page, mem: Memory) -> str | None:
    senders = [s.text() for s in page.find_all(cls="email-sender")]
    req = mem.get("request") or _request(page, senders)
    if req is None:
        return None
    mem["request"] = req
    action, sender, arg = req
    reply, forward, email = page.by_id("reply"), page.by_id("forward"), page.by_id("email")
    if action == "reply" and reply is not None:
        box = page.by_id("reply-text")
        if box is not None and box.value != arg:
            return fill(box, arg)
        send = page.by_id("send-reply")
        return click(send) if send else None
    if action == "forward" and forward is not None:
        to = forward.find("input", cls="forward-sender")
        if to is not None and to.value != arg:
            return fill(to, arg)
        send = page.by_id("send-forward")
        return click(send) if send else None
    if email is not None and not email.has_class("hide"):
        target = {
            "reply": email.find(cls="email-reply"),
            "forward": email.find(cls="email-forward"),
            "delete": email.find(cls="trash"),
            "important": email.find(cls="star"),
        }[action]
        return click(target) if target else None
    thread = _thread(page, sender)
    if thread is None:
        return None
    if action == "delete":
        icon = thread.find(cls="trash")
        return click(icon) if icon else None
    if action == "important":
        icon = thread.find(cls="star")
        return click(icon) if icon else None
    return click(thread)
