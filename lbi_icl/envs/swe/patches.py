"""Unified-diff helpers for task records: the files a patch writes, and a patch reversed
(SWE-smith publishes the diff that *introduces* a bug; its fix is that diff reversed)."""

from __future__ import annotations

import re

_DIFF_FILE = re.compile(r"^\+\+\+ b/(.+)$", re.MULTILINE)
_HUNK = re.compile(r"^@@ -(\d+(?:,\d+)?) \+(\d+(?:,\d+)?) @@(.*)$")
_SWAPPED_HEADERS = {
    "new file mode ": "deleted file mode ",
    "deleted file mode ": "new file mode ",
    "old mode ": "new mode ",
    "new mode ": "old mode ",
    "rename from ": "rename to ",
    "rename to ": "rename from ",
    "copy from ": "copy to ",
    "copy to ": "copy from ",
}


def patch_files(patch: str) -> list[str]:
    """Files a unified diff writes (its `+++ b/...` lines)."""
    return _DIFF_FILE.findall(patch)


def _split_files(patch: str) -> list[list[str]]:
    """The patch's lines grouped per `diff --git` section (text before the first one is
    kept as its own group)."""
    groups: list[list[str]] = [[]]
    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git ") and groups[-1]:
            groups.append([])
        groups[-1].append(line)
    return [g for g in groups if g]


def _reverse_header(line: str) -> str:
    body = line.rstrip("\n")
    end = line[len(body) :]
    if body.startswith("diff --git "):
        m = re.match(r"^diff --git (a/.*) (b/.*)$", body)
        if m:
            return f"diff --git a/{m.group(2)[2:]} b/{m.group(1)[2:]}{end}"
    for old, new in _SWAPPED_HEADERS.items():
        if body.startswith(old):
            return new + body[len(old) :] + end
    if body.startswith("index "):
        m = re.match(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)(.*)$", body)
        if m:
            return f"index {m.group(2)}..{m.group(1)}{m.group(3)}{end}"
    return line


def _reverse_paths(minus: str, plus: str) -> tuple[str, str]:
    """`--- a/X` / `+++ b/Y` → `--- a/Y` / `+++ b/X` (/dev/null keeps its side's role)."""
    old = minus.rstrip("\n")[4:]
    new = plus.rstrip("\n")[4:]

    def side(path: str, prefix: str) -> str:
        return path if path == "/dev/null" else prefix + path[2:]

    return f"--- {side(new, 'a/')}\n", f"+++ {side(old, 'b/')}\n"


def _reverse_hunk(lines: list[str]) -> list[str]:
    """Swap `-` and `+` lines, keeping each run of changes as removals first, additions
    second, and every `\\ No newline` marker after the line it belongs to."""
    out: list[str] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        out.extend(removed)
        out.extend(added)
        removed.clear()
        added.clear()

    last: list[str] | None = None
    for line in lines:
        if line.startswith("\\"):
            (last if last is not None else out).append(line)
            continue
        if line.startswith("-"):
            added.append("+" + line[1:])
            last = added
        elif line.startswith("+"):
            removed.append("-" + line[1:])
            last = removed
        else:
            flush()
            out.append(line)
            last = out
    flush()
    return out


def _reverse_binary(lines: list[str]) -> list[str]:
    """A `GIT binary patch` holds the forward and the reverse block: swap them."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith(("literal ", "delta ")):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    if len(blocks) != 2:
        raise ValueError("a binary patch without its reverse block cannot be reversed")
    return [*blocks[1], *blocks[0]]


def _canonical_order(headers: list[str]) -> list[str]:
    """Swapped pairs back in git's order: `old mode` before `new mode`, `rename from`
    before `rename to`, `copy from` before `copy to`."""
    out = list(headers)
    for first, second in (("old mode ", "new mode "), ("rename from ", "rename to "),
                          ("copy from ", "copy to ")):  # fmt: skip
        a = next((i for i, h in enumerate(out) if h.startswith(first)), None)
        b = next((i for i, h in enumerate(out) if h.startswith(second)), None)
        if a is not None and b is not None and a > b:
            out[a], out[b] = out[b], out[a]
    return out


def reverse_patch(patch: str) -> str:
    """The diff that undoes `patch` (what `git apply -R` would apply)."""
    out: list[str] = []
    for group in _split_files(patch):
        i = 0
        headers: list[str] = []
        while i < len(group) and not group[i].startswith(("--- ", "@@", "GIT binary patch")):
            headers.append(_reverse_header(group[i]))
            i += 1
        out += _canonical_order(headers)
        if i < len(group) and group[i].startswith("--- "):
            minus, plus = _reverse_paths(group[i], group[i + 1])
            out += [minus, plus]
            i += 2
        if i < len(group) and group[i].startswith("GIT binary patch"):
            out.append(group[i])
            out += _reverse_binary(group[i + 1 :])
            continue
        hunk: list[str] = []
        for line in group[i:]:
            m = _HUNK.match(line.rstrip("\n"))
            if m:
                out += _reverse_hunk(hunk)
                hunk = []
                out.append(f"@@ -{m.group(2)} +{m.group(1)} @@{m.group(3)}\n")
            else:
                hunk.append(line)
        out += _reverse_hunk(hunk)
    return "".join(out)
