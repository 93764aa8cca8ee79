"""Turn a policy's raw text into one action.

Models answer `Reason: ...` / `Action: ...` (see `prompt.py`), but not always cleanly: they
wrap answers in code fences or markdown, quote the action, add a full stop, change case.
Parsing is tolerant of all of that, and when the environment lists its valid actions the
extracted text is matched to one of them (exact first, then normalized), so the environment
receives the spelling it expects.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

MatchKind = Literal["exact", "normalized", "none", "unchecked"]

_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_LABEL = re.compile(r"^[\s>*#_\-`]*(action|reason)[\s*_`]*[:：][\s*_`]*(.*)$", re.IGNORECASE)
_QUOTES = "\"'`“”‘’«»"
_TRAILING = ".!;,"
_NON_WORD = re.compile(r"[^0-9a-z]+")
# a final word that is a path or glob: ".", "..", "*", "dir/", "dir/*", "dir/."
_SHELL_TAIL = re.compile(r"\s(?:\.\.?|\*|\S*/(?:\.\.?|\*)?)$")


class ParsedAction(BaseModel):
    """What `parse_action` understood. `action` is what the environment should receive:
    the matched valid action when one matched, else the cleaned extracted text."""

    parsed: bool
    action: str | None = None
    raw_action: str | None = None  # the text found after 'Action:', before matching
    reason: str | None = None
    match: MatchKind = "unchecked"

    @property
    def valid(self) -> bool | None:
        """True/False when a valid-action list was checked, None when there was none."""
        if self.match == "unchecked":
            return None
        return self.match != "none"


def normalize_action(text: str) -> str:
    """Case- and punctuation-insensitive form used to compare actions: lower case,
    every run of non-alphanumeric characters becomes one space."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def clean_action(text: str) -> str:
    """Strip whitespace, markdown emphasis, surrounding quotes and trailing punctuation.
    A last word that is a shell path or glob (`grep -rn x .`, `cd ..`, `ls src/*`) keeps
    its dots and star: there they are arguments, not punctuation."""
    out = text.strip()
    previous = None
    while out != previous:
        previous = out
        out = out.strip().lstrip("*_").strip()
        if not _SHELL_TAIL.search(out):
            out = out.rstrip("*_").strip()
        if len(out) >= 2 and out[0] in _QUOTES and out[-1] in _QUOTES:
            out = out[1:-1]
        if not _SHELL_TAIL.search(out):
            out = out.rstrip(_TRAILING).rstrip()
    return out


def _lines_without_fences(text: str) -> list[str]:
    return [line for line in text.splitlines() if not _FENCE.match(line)]


def _extract(text: str) -> tuple[str | None, str | None, bool]:
    """(reason, action text, labelled) from labelled lines; the last non-empty 'Action:'
    wins, so a model that restates the format before answering is still read correctly."""
    lines = _lines_without_fences(text)
    reason: str | None = None
    action: str | None = None
    for i, line in enumerate(lines):
        m = _LABEL.match(line)
        if m is None:
            continue
        label, value = m.group(1).lower(), m.group(2).strip()
        if not value:  # 'Action:' alone on its line: the answer is on the next non-empty line
            value = next((ln.strip() for ln in lines[i + 1 :] if ln.strip()), "")
            if _LABEL.match(value):
                value = ""
        if label == "reason":
            reason = value or reason
        elif clean_action(value):
            action = value
    if action is not None:
        return reason, action, True
    body = [ln.strip() for ln in lines if ln.strip()]
    if len(body) == 1 and not _LABEL.match(body[0]):
        return reason, body[0], False
    return reason, None, False


def match_action(action: str, valid_actions: list[str]) -> tuple[str | None, MatchKind]:
    """The valid action `action` names: exact (after trimming) first, then normalized
    (`normalize_action`); the first in list order wins a normalized tie."""
    stripped = action.strip()
    for candidate in valid_actions:
        if candidate.strip() == stripped:
            return candidate, "exact"
    key = normalize_action(action)
    if key:
        for candidate in valid_actions:
            if normalize_action(candidate) == key:
                return candidate, "normalized"
    return None, "none"


def parse_action(text: str, valid_actions: list[str] | None = None) -> ParsedAction:
    """Parse a policy's raw output. `parsed` is False when no action text could be found;
    with `valid_actions` given, `match` says whether (and how) it names one of them.

    An answer without an `Action:` label is accepted only when it is a single line that
    names one of `valid_actions` (so 'go forward' works, 'I am not sure.' is unparsable).
    """
    reason, found, labelled = _extract(text or "")
    if found is None:
        return ParsedAction(parsed=False, reason=reason)
    cleaned = clean_action(found)
    if not cleaned:
        return ParsedAction(parsed=False, reason=reason)
    if not labelled and (valid_actions is None or match_action(cleaned, valid_actions)[0] is None):
        return ParsedAction(parsed=False, reason=reason)
    if valid_actions is None:
        return ParsedAction(parsed=True, action=cleaned, raw_action=found, reason=reason)
    matched, kind = match_action(cleaned, valid_actions)
    return ParsedAction(
        parsed=True,
        action=matched if matched is not None else cleaned,
        raw_action=found,
        reason=reason,
        match=kind,
    )
