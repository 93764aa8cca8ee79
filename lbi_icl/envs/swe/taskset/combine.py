"""A bug = one mutation, or several (2-3) combined: different functions of one file (a
multi-hunk patch) or of different files. Combined bugs are drawn from single mutations
that each break some tests on their own, so every hunk of the fix is needed.
"""

from __future__ import annotations

import ast
import hashlib
import random
from dataclasses import dataclass

from lbi_icl.envs.swe.taskset.spans import Mutation


@dataclass(frozen=True)
class Bug:
    parts: tuple[Mutation, ...]

    @property
    def kind(self) -> str:
        return self.parts[0].kind if len(self.parts) == 1 else "combined"

    @property
    def key(self) -> str:
        if len(self.parts) == 1:
            return self.parts[0].key
        blob = "\x1f".join(sorted(m.key for m in self.parts))
        return hashlib.sha256(f"combined\x1f{blob}".encode()).hexdigest()[:10]

    @property
    def first(self) -> Mutation:
        return self.parts[0]

    def files(self) -> dict[str, str]:
        """The mutated text of every file the bug touches."""
        by_file: dict[str, list[Mutation]] = {}
        for m in self.parts:
            by_file.setdefault(m.file, []).append(m)
        out: dict[str, str] = {}
        for file, muts in by_file.items():
            if len(muts) == 1:
                out[file] = muts[0].mutated
                continue
            data = muts[0].source.encode("utf-8")
            for m in sorted(muts, key=lambda m: m.start, reverse=True):
                data = data[: m.start] + m.new.encode("utf-8") + data[m.end :]
            out[file] = data.decode("utf-8")
        return out

    def describe(self) -> list[dict[str, object]]:
        return [
            {
                "kind": m.kind,
                "file": m.file,
                "function": m.function,
                "line": m.line,
                "description": m.description,
            }
            for m in self.parts
        ]


def _compatible(parts: list[Mutation]) -> bool:
    """Distinct functions (neither nested in the other) and spans that do not overlap."""
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            if a.file != b.file:
                continue
            if a.function == b.function or a.function.startswith(b.function + "."):
                return False
            if b.function.startswith(a.function + "."):
                return False
            if a.start < b.end and b.start < a.end:
                return False
    return True


def combine(singles: list[Mutation], rng: random.Random, limit: int) -> list[Bug]:
    """Up to `limit` combined bugs from `singles` (in their order of preference): pairs and
    triples in one file first (multi-hunk), then pairs across files; each single is used
    in at most one combination, so the combined bugs differ from each other."""
    by_file: dict[str, list[Mutation]] = {}
    for m in singles:
        by_file.setdefault(m.file, []).append(m)
    used: set[str] = set()
    out: list[Bug] = []

    def take(parts: list[Mutation]) -> None:
        bug = Bug(tuple(sorted(parts, key=lambda m: (m.file, m.start))))
        if len(out) < limit and _compatible(list(bug.parts)) and _parses(bug):
            out.append(bug)
            used.update(m.key for m in parts)

    files = sorted(by_file)
    rng.shuffle(files)
    for file in files:
        pool = [m for m in by_file[file] if m.key not in used]
        while len(pool) >= 2 and len(out) < limit:
            size = 3 if len(pool) >= 3 and rng.random() < 0.3 else 2
            group: list[Mutation] = []
            for m in pool:
                if _compatible([*group, m]):
                    group.append(m)
                if len(group) == size:
                    break
            if len(group) < 2:
                break
            before = len(out)
            take(group)
            if len(out) == before:
                break
            pool = [m for m in pool if m.key not in used]
    rest = [m for m in singles if m.key not in used]
    while len(rest) >= 2 and len(out) < limit:
        a = rest[0]
        b = next((m for m in rest[1:] if m.file != a.file), None)
        if b is None:
            break
        take([a, b])
        rest = [m for m in rest if m.key not in used and m is not a]
    return out


def _parses(bug: Bug) -> bool:
    try:
        for text in bug.files().values():
            ast.parse(text)
    except SyntaxError:
        return False
    return True
