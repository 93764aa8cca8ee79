"""The expert: the gold patch replayed as the shell actions a developer would take — run a
failing test, find the function the patch touches, read it, edit it with a one-line
command, rerun the test, look at the diff, submit."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from lbi_icl.envs.swe.records import SWEInstance

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@(.*)$")
_DEF = re.compile(r"\b(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Hunk:
    file: str
    start: int  # first line of the old side
    length: int
    context: str  # text after the second @@ (the enclosing def, when git found one)
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)


def parse_hunks(patch: str) -> list[Hunk]:
    hunks: list[Hunk] = []
    file: str | None = None
    cur: Hunk | None = None
    for line in patch.splitlines():
        if line.startswith("+++ "):
            file = line[6:] if line.startswith("+++ b/") else None
            cur = None
        elif line.startswith("--- ") or line.startswith("diff --git"):
            cur = None
        elif (m := _HUNK.match(line)) and file is not None:
            cur = Hunk(file, int(m.group(1)), int(m.group(2) or 1), m.group(3).strip())
            hunks.append(cur)
        elif cur is not None and line[:1] in (" ", "-", "+"):
            if line[:1] in (" ", "-"):
                cur.old.append(line[1:])
            if line[:1] in (" ", "+"):
                cur.new.append(line[1:])
        elif cur is not None and line.startswith("\\"):
            continue
    return hunks


def _test_command(node: str) -> str:
    return f"python -m pytest -q -x {shlex.quote(node)}"


def edit_command(h: Hunk) -> str:
    """One line that replaces the hunk's old text with its new text (exactly once)."""
    old = "\n".join(h.old) + "\n"
    new = "\n".join(h.new) + "\n"
    code = (
        f"import pathlib; p = pathlib.Path({h.file!r}); s = p.read_text(); "
        f"old = {old!r}; new = {new!r}; "
        "assert s.count(old) == 1, 'the text to replace is not unique'; "
        "p.write_text(s.replace(old, new))"
    )
    return f"python3 -c {shlex.quote(code)}"


def _apply_command(patch: str) -> str:
    return f"printf '%s' {shlex.quote(patch)} | git apply -"


def _function_name(h: Hunk, inst: SWEInstance) -> str | None:
    mutation = getattr(inst, "mutation", None)
    if isinstance(mutation, dict) and isinstance(mutation.get("function"), str):
        return str(mutation["function"]).split(".")[-1]
    m = _DEF.search(h.context)
    return m.group(1) if m else None


def expert_actions(inst: SWEInstance) -> list[str]:
    test = inst.FAIL_TO_PASS[0]
    actions = [_test_command(test)]
    hunks = parse_hunks(inst.patch)
    for h in hunks:
        name = _function_name(h, inst)
        if name:
            actions.append(f"grep -rn {shlex.quote(f'def {name}')} --include='*.py' .")
        lo = max(1, h.start - 5)
        actions.append(f"sed -n '{lo},{h.start + h.length + 5}p' {shlex.quote(h.file)}")
    simple = hunks and all(h.old and h.new for h in hunks)
    if simple:
        actions += [edit_command(h) for h in hunks]
    else:  # new or deleted files: apply the patch itself
        actions.append(_apply_command(inst.patch))
    actions += ["git diff", "submit"]
    return actions


def noise_actions(inst: SWEInstance) -> list[str]:
    """Harmless, read-only look-around commands (the noisy expert's detours)."""
    out = ["ls", "git status --short", "git log --oneline -3", "ls tests 2>/dev/null | head"]
    files = inst.test_files()
    if files:
        out.append(f"grep -n 'def test_' {shlex.quote(files[0])} | head -20")
    for h in parse_hunks(inst.patch)[:1]:
        out.append(f"head -30 {shlex.quote(h.file)}")
    return out
