"""Which `n` tasks of a split synthesis rolls out.

An env lists its tasks interleaved by family (ScienceWorld: the first variation of every
task type, then the second, ...), and within a family neighbouring variations often differ
only in the start room: ScienceWorld's first three `boil` train variations all boil water,
the first three `inclined-plane-determine-angle` ones all compare planes C and B. Taking
the first `n` then covers few objects, and a held-out task about another object meets
actions no example takes. `spread` keeps the interleaving by family but walks each
family's variations in a low-discrepancy order (0, 1/2, 1/4, 3/4, ... of the list), so any
first `k` variations of a family are spread over all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from lbi_icl.data import Task

TaskOrder = Literal["first", "spread"]


def family_of(task: Task) -> str:
    """The task's family: its `task_type` metadata, else the id up to the first '/'."""
    kind = task.metadata.get("task_type")
    return str(kind) if kind else task.id.split("/", 1)[0]


def van_der_corput(i: int) -> float:
    """The i-th point (i >= 0) of the base-2 van der Corput sequence in [0, 1)."""
    out, denom = 0.0, 1.0
    while i:
        denom *= 2.0
        i, bit = divmod(i, 2)
        out += bit / denom
    return out


def spread_positions(n: int) -> list[int]:
    """A permutation of range(n) whose every prefix is spread over the whole range: the
    van der Corput points of the first power of two m >= n, scaled to n, repeats dropped
    (each of the n intervals of width 1/n holds one of the m points, so all n appear)."""
    if n <= 0:
        return []
    m = 1 << (n - 1).bit_length()
    out: list[int] = []
    seen: set[int] = set()
    for i in range(m):
        pos = int(van_der_corput(i) * n)
        if pos not in seen:
            seen.add(pos)
            out.append(pos)
    return out


def spread_tasks(tasks: Sequence[Task], n: int | None = None) -> list[Task]:
    """`tasks` interleaved by family (families in order of first appearance), each family's
    tasks taken in `spread_positions` order; the first `n` (all with None)."""
    families: dict[str, list[Task]] = {}
    for task in tasks:
        families.setdefault(family_of(task), []).append(task)
    ordered = [[group[p] for p in spread_positions(len(group))] for group in families.values()]
    out: list[Task] = []
    for rank in range(max((len(g) for g in ordered), default=0)):
        for group in ordered:
            if rank < len(group):
                out.append(group[rank])
                if n is not None and len(out) >= n:
                    return out
    return out
