"""Offline backward construction for `swe` trajectories: what a window of shell actions
did, read off the commands themselves (the expert's commands have a fixed shape) and their
exit codes.

- *abstract*: the window's recognized steps as one instruction ("Find where `parameterize`
  is defined, read lines 260-290 of inflection/__init__.py, and edit
  inflection/__init__.py so that the failing test passes.");
- *summarize*: "Replicate the following: ran `CMD` (exit code N); ..." over every step.
A window whose commands are all unrecognized look-arounds yields only the summarize one.
"""

from __future__ import annotations

import re
import shlex

from lbi_icl.data import Trajectory
from lbi_icl.synth.base import WindowInstruction

WRITER = "template-swe"
MAX_CLAUSES = 4

_EXIT = re.compile(r"^exit code (\d+)")


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def describe(command: str, observation_after: str) -> str | None:
    """A clause for one command, or None for a look-around nobody would ask for."""
    cmd = command.strip()
    words = _words(cmd)
    if not words:
        return None
    ok = not (m := _EXIT.match(observation_after)) or m.group(1) == "0"
    if cmd == "submit":
        return "submit the fix"
    if "pytest" in words or "pytest" in cmd.split(" ")[:3]:
        targets = [f"`{w}`" for w in words if "::" in w or w.endswith(".py")]
        what = _join(targets[:2]) if targets else "the tests"
        if len(targets) > 2:
            what = f"{', '.join(targets[:2])} and {len(targets) - 2} more test files"
        verb = "pass" if ok else "fail"
        return f"run {what} and see {'it' if len(targets) == 1 else 'them'} {verb}"
    if words[0] == "grep":
        pattern = next((w for w in words[1:] if not w.startswith("-")), "")
        if pattern.startswith("def "):
            return f"find where `{pattern[4:]}` is defined"
        return f"search the code for `{pattern}`" if pattern else None
    if words[0] == "sed" and "-n" in words and len(words) >= 4:
        rng = words[words.index("-n") + 1].rstrip("p").replace(",", "-")
        return f"read lines {rng} of {words[-1]}"
    if words[0] in ("python3", "python") and "-c" in words and "write_text" in cmd:
        m = re.search(r"pathlib\.Path\('([^']+)'\)", " ".join(words))
        target = m.group(1) if m else "the file"
        return f"edit {target}" + ("" if ok else " (the edit failed)")
    if words[0] == "sed" and "-i" in words:
        return f"edit {words[-1]} with sed"
    if "git apply" in cmd:
        return "apply the patch"
    if cmd.startswith("git diff"):
        return "review the changes with git diff"
    return None


def _join(clauses: list[str]) -> str:
    if len(clauses) <= 2:
        return " and ".join(clauses)
    return ", ".join(clauses[:-1]) + ", and " + clauses[-1]


class SWETemplateRelabeler:
    """`Relabeler` for swe trajectories, offline and deterministic."""

    name = WRITER

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        n = len(parent.steps)
        if not 0 <= start < end <= n:
            raise ValueError(f"trajectory {parent.id}: window [{start}, {end}) outside {n} steps")
        clauses: list[str] = []
        parts: list[str] = []
        for i in range(start, end):
            after = (
                parent.steps[i + 1].observation if i + 1 < n else parent.final_observation
            ) or ""
            action = parent.steps[i].action
            clause = describe(action, after)
            if clause is not None and clause not in clauses:
                clauses.append(clause)
            status = _EXIT.match(after)
            short = action if len(action) <= 100 else action[:97] + "..."
            parts.append(f"ran `{short}`" + (f" (exit code {status.group(1)})" if status else ""))
        out = []
        if clauses:
            text = _join(clauses[:MAX_CLAUSES])
            out.append(
                WindowInstruction(
                    instruction=text[0].upper() + text[1:] + ".", kind="abstract", writer=WRITER
                )
            )
        out.append(
            WindowInstruction(instruction="; ".join(parts) + ".", kind="summarize", writer=WRITER)
        )
        return out


def make_relabeler() -> SWETemplateRelabeler:
    return SWETemplateRelabeler()
