"""The expert: the gold patch replayed as the shell actions a developer would take after
reading the issue — find each function the patch touches, read it, edit it (one command
per hunk), run the test files of the instance that exist in the checkout (the failing
tests are not there: as in SWE-bench, they come with the test patch at grading), look at
the diff, submit. Patches that create or delete files are applied with `git apply`."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from lbi_icl.envs.swe.records import SWEInstance

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_DEF = re.compile(r"\b(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)")
_NEW_FILE = re.compile(r"^--- /dev/null\n\+\+\+ b/(.+)$", re.MULTILINE)


@dataclass
class Hunk:
    file: str
    start: int  # first line of the old side
    length: int
    context: str  # text after the second @@ (the enclosing def, when git found one)
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    new_start: int = 0  # first line of the new side

    @property
    def new_length(self) -> int:
        return len(self.new)


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
            cur = Hunk(
                file,
                int(m.group(1)),
                int(m.group(2) or 1),
                m.group(5).strip(),
                new_start=int(m.group(3)),
            )
            hunks.append(cur)
        elif cur is not None and line[:1] in (" ", "-", "+"):
            if line[:1] in (" ", "-"):
                cur.old.append(line[1:])
            if line[:1] in (" ", "+"):
                cur.new.append(line[1:])
        elif cur is not None and line.startswith("\\"):
            continue
    return hunks


def _test_command(files: list[str]) -> str:
    return "python -m pytest -q " + " ".join(shlex.quote(f) for f in files)


def edit_command(h: Hunk, line: int | None = None) -> str:
    """One line that replaces the hunk's old text with its new text: the occurrence
    nearest to `line` (default: the hunk's own first line) when the text is there more
    than once; it fails when the text is not there."""
    old = "\n".join(h.old) + "\n"
    new = "\n".join(h.new) + "\n"
    at = h.start if line is None else line
    code = (
        f"import pathlib, re; p = pathlib.Path({h.file!r}); s = p.read_text(); "
        f"old = {old!r}; new = {new!r}; "
        "found = [m.start() for m in re.finditer(re.escape(old), s)]; "
        "assert found, 'the text to replace is not there'; "
        f"i = min(found, key=lambda j: abs(s.count(chr(10), 0, j) + 1 - {at})); "
        "p.write_text(s[:i] + new + s[i + len(old):])"
    )
    return f"python3 -c {shlex.quote(code)}"


def _apply_command(patch: str) -> str:
    return f"printf '%s' {shlex.quote(patch)} | git apply -"


def _mutations(inst: SWEInstance) -> list[dict[str, object]]:
    parts = getattr(inst, "mutations", None)
    if isinstance(parts, list) and parts:
        return [p for p in parts if isinstance(p, dict)]
    one = getattr(inst, "mutation", None)
    return [one] if isinstance(one, dict) else []


def _function_name(h: Hunk, inst: SWEInstance) -> str | None:
    """The function the hunk changes: the task set's record of its mutations (the one in
    the hunk's file nearest to it), else the enclosing def git names in the hunk header."""
    lo, hi = h.new_start, h.new_start + max(h.new_length - 1, 0)
    best: tuple[int, str] | None = None
    for m in _mutations(inst):
        fn, file, line = m.get("function"), m.get("file"), m.get("line")
        if not isinstance(fn, str) or file not in (h.file, None) or not isinstance(line, int):
            continue
        distance = 0 if lo <= line <= hi else min(abs(line - lo), abs(line - hi))
        if best is None or distance < best[0]:
            best = (distance, fn.split(".")[-1])
    if best is not None:
        return best[1]
    m = _DEF.search(h.context)
    return m.group(1) if m else None


def existing_test_files(inst: SWEInstance) -> list[str]:
    """The instance's test files that are in the checkout (not created by the test patch)."""
    created = set(_NEW_FILE.findall(inst.test_patch))
    return [f for f in inst.test_files() if f not in created]


def expert_actions(inst: SWEInstance) -> list[str]:
    actions: list[str] = []
    hunks = parse_hunks(inst.patch)
    searched: set[str] = set()
    for h in hunks:
        name = _function_name(h, inst)
        if name and name not in searched:
            searched.add(name)
            actions.append(f"grep -rn {shlex.quote(f'def {name}')} --include='*.py' .")
        lo = max(1, h.start - 5)
        actions.append(f"sed -n '{lo},{h.start + h.length + 5}p' {shlex.quote(h.file)}")
    simple = hunks and all(h.old and h.new for h in hunks)
    if simple:
        shift: dict[str, int] = {}  # lines added so far above the next hunk, per file
        for h in hunks:
            actions.append(edit_command(h, h.start + shift.get(h.file, 0)))
            shift[h.file] = shift.get(h.file, 0) + len(h.new) - len(h.old)
    else:  # new or deleted files: apply the patch itself
        actions.append(_apply_command(inst.patch))
    files = existing_test_files(inst)
    if files:
        actions.append(_test_command(files))
    actions += ["git diff", "submit"]
    return actions


def noise_actions(inst: SWEInstance) -> list[str]:
    """Harmless, read-only look-around commands (the noisy expert's detours)."""
    out = ["ls", "git status --short", "git log --oneline -3", "ls tests 2>/dev/null | head"]
    files = existing_test_files(inst)
    if files:
        out.append(f"grep -n 'def test_' {shlex.quote(files[0])} | head -20")
    for h in parse_hunks(inst.patch)[:1]:
        out.append(f"head -30 {shlex.quote(h.file)}")
    return out
