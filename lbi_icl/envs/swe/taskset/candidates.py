"""Which mutants a project tries, and against which test files.

A function's test files are the (at most `max_files`) test files that name it most often.
Functions no test names (private helpers) come second, run against the test files that
name their module: they are tried only when the first tier is too small (a project
whose tests go through one public entry point, like tabulate's `tabulate()`).

The order is seeded: per function at most `max_per_function` mutants of distinct kinds,
block and one-line kinds alternating (which comes first is drawn per function), functions
interleaved rank by rank, so the first candidates spread over many functions.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import PurePosixPath

from lbi_icl.envs.swe.taskset.mutate import BLOCK_KINDS, find_mutations
from lbi_icl.envs.swe.taskset.spans import Mutation

_WORD = re.compile(r"\w+")


class Relevance:
    """Word counts of the test files, to find the tests that exercise a function."""

    def __init__(self, test_texts: dict[str, str], max_files: int) -> None:
        self.words = {f: Counter(_WORD.findall(text)) for f, text in test_texts.items()}
        self.max_files = max_files

    def _top(self, *words: str) -> list[str]:
        hits = sorted(
            (-c[words[0]], f) for f, c in self.words.items() if all(c[w] > 0 for w in words)
        )
        return sorted(f for _, f in hits[: self.max_files])

    def direct(self, function: str) -> list[str]:
        """Test files that name the function (its last non-dunder part, 3+ characters)."""
        names = [p for p in function.split(".") if not p.startswith("__")]
        name = (names[-1] if names else function.split(".")[0]).lstrip("_")
        return self._top(name) if len(name) >= 3 else []

    def by_module(self, file: str) -> list[str]:
        """Test files that name the module the function is in (and its package)."""
        parts = list(PurePosixPath(file).with_suffix("").parts)
        if parts and parts[0] == "src":
            parts = parts[1:]
        if parts and parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts or len(parts[-1]) < 4:
            return []
        return self._top(parts[-1], parts[0])


def _interleave(first: list[Mutation], second: list[Mutation]) -> list[Mutation]:
    out: list[Mutation] = []
    for i in range(max(len(first), len(second))):
        out += first[i : i + 1] + second[i : i + 1]
    return out


def _tier(
    texts: dict[str, str],
    files_of: Callable[[Mutation], list[str]],
    keep: Callable[[str, str], bool],
    rng: random.Random,
    max_per_function: int,
) -> list[tuple[Mutation, list[str]]]:
    by_function: dict[tuple[str, str], list[Mutation]] = {}
    for rel, text in texts.items():
        for m in find_mutations(rel, text, keep=lambda fn, rel=rel: keep(rel, fn), check=False):
            by_function.setdefault((m.file, m.function), []).append(m)
    keys = sorted(by_function)
    rng.shuffle(keys)
    chosen: dict[tuple[str, str], list[tuple[Mutation, list[str]]]] = {}
    for key in keys:
        muts = list(by_function[key])
        rng.shuffle(muts)
        block = [m for m in muts if m.kind in BLOCK_KINDS]
        line = [m for m in muts if m.kind not in BLOCK_KINDS]
        order = _interleave(block, line) if rng.random() < 0.5 else _interleave(line, block)
        picked: list[Mutation] = []
        for m in order:
            if all(m.kind != q.kind for q in picked) and m.parses():
                picked.append(m)
            if len(picked) >= max_per_function:
                break
        chosen[key] = [(m, files_of(m)) for m in picked]
    out: list[tuple[Mutation, list[str]]] = []
    for rank in range(max_per_function):
        out += [c[rank] for key in keys if len(c := chosen.get(key, [])) > rank]
    return out


def select(
    sources: dict[str, str],
    relevance: Relevance,
    seed: int,
    max_per_function: int,
    limit: int,
) -> list[tuple[Mutation, list[str]]]:
    """Up to `limit` (mutation, test files) pairs in the seeded order described above."""
    direct_memo: dict[str, bool] = {}

    def named(fn: str) -> bool:
        if fn not in direct_memo:
            direct_memo[fn] = bool(relevance.direct(fn))
        return direct_memo[fn]

    first = _tier(
        sources,
        lambda m: relevance.direct(m.function),
        lambda _rel, fn: named(fn),
        random.Random(seed),
        max_per_function,
    )
    if len(first) >= limit:
        return first[:limit]
    second = _tier(
        sources,
        lambda m: relevance.by_module(m.file),
        lambda rel, fn: not named(fn) and bool(relevance.by_module(rel)),
        random.Random(seed + 1),
        max_per_function,
    )
    return (first + second)[:limit]
