"""What changed between two settings dicts, as `key: old → new` lines — the message a
refused resume gives, so the user sees which value to put back (or that a new --out is
what they want)."""

from __future__ import annotations

import json
from typing import Any

MAX_VALUE_CHARS = 60
UNSET = "(unset)"


def _show(value: Any) -> str:
    if value is _MISSING:
        return UNSET
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


_MISSING = object()


def setting_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Every leaf that differs, as `dotted.key: old → new` (nested dicts are walked, other
    values compared whole), in key order."""
    out: list[str] = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out += setting_changes(a, b, f"{name}.")
        elif a != b:
            out.append(f"{name}: {_show(a)} → {_show(b)}")
    return out
