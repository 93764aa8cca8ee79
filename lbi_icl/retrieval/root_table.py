"""Where each step row sits in its *root* trajectory, so `history` can align a candidate
with the agent's recent actions beyond the start of the candidate's window.

A synthetic example is a window `[start, end)` of a raw trajectory (its id holds
`/w<start>-<end>/`, `synth.backward.window_example`); its step at position p is the root's
step `start + p`. Many windows of one root overlap, so the actions before a window's
first step are known from the root's other windows. Rows of an example whose step count
differs from its span (a filter dropped a step, so positions no longer map) and rows no
window covers stay unmapped; an example that is not a window (an expert demonstration, a
logged run) is its own root, position = its step position.

Built once per loaded index on first use (a scan of the example ids; no example is read),
cached like the action table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval.action_table import ActionTable, action_table
from lbi_icl.retrieval.per_index import PerIndex

_WINDOW = re.compile(r"/w(\d+)-(\d+)(?:/|$)")


@dataclass
class RootTable:
    root: np.ndarray  # int64 per step row: root code, -1 when unmapped
    pos: np.ndarray  # int64 per step row: position in the root trajectory
    keys: np.ndarray  # sorted int64 keys root * stride + position of every mapped row
    codes: np.ndarray  # int32 action code per key
    stride: int
    code_verb: np.ndarray  # int64 verb code per action code
    start_order: np.ndarray  # first rows of windows, sorted by the root action before them
    start_bounds: np.ndarray  # start_order[start_bounds[c]:start_bounds[c + 1]]: after code c

    def rows_after(self, code: int) -> np.ndarray:
        """First rows of windows whose root step before them took action `code`."""
        if code < 0 or code + 1 >= len(self.start_bounds):
            return np.zeros(0, dtype=np.int64)
        return self.start_order[self.start_bounds[code] : self.start_bounds[code + 1]]

    def previous(self, rows: np.ndarray, j: int) -> np.ndarray:
        """Action code of the root step j before each row's (-1: unknown)."""
        out = np.full(len(rows), -1, dtype=np.int64)
        root, pos = self.root[rows], self.pos[rows] - j
        ok = (root >= 0) & (pos >= 0)
        if not ok.any() or not len(self.keys):
            return out
        want = root[ok] * self.stride + pos[ok]
        at = np.minimum(np.searchsorted(self.keys, want), len(self.keys) - 1)
        found = self.keys[at] == want
        vals = np.where(found, self.codes[at], -1)
        out[ok] = vals
        return out


def window_start(example_id: str) -> tuple[int, int] | None:
    """(start, end) of a synthetic window's span from its id; None for other examples."""
    found = _WINDOW.findall(example_id)
    if not found:
        return None
    start, end = found[-1]
    return int(start), int(end)


def build_root_table(index: ExampleIndex, table: ActionTable) -> RootTable:
    n_steps = index.n_steps
    roots = np.asarray(index.meta_column("root"), dtype=np.int64)
    bounds = np.asarray(index.example_steps, dtype=np.int64)
    lengths = np.diff(bounds)
    start = np.zeros(len(roots), dtype=np.int64)
    mapped = np.ones(len(roots), dtype=bool)
    for i, eid in enumerate(index.ids):
        span = window_start(eid)
        if span is None:
            continue
        start[i] = span[0]
        mapped[i] = span[1] - span[0] == lengths[i]
    ex = np.asarray(index.step_example, dtype=np.int64)
    row_root = np.where(mapped[ex], roots[ex], -1)
    row_pos = start[ex] + np.asarray(index.step_pos, dtype=np.int64)
    stride = int(row_pos.max()) + 2 if n_steps else 1
    ok = row_root >= 0
    keys = row_root[ok] * stride + row_pos[ok]
    codes = np.asarray(table.codes, dtype=np.int32)[ok]
    keys, first = np.unique(keys, return_index=True)  # overlapping windows: the first row
    code_verb = np.zeros(len(table.texts), dtype=np.int64)
    code_verb[np.asarray(table.codes, dtype=np.int64)] = table.verb_codes
    out = RootTable(
        root=row_root,
        pos=row_pos,
        keys=keys,
        codes=codes[first],
        stride=stride,
        code_verb=code_verb,
        start_order=np.zeros(0, dtype=np.int64),
        start_bounds=np.zeros(1, dtype=np.int64),
    )
    starts = bounds[:-1][lengths > 0]
    before = out.previous(starts, 1)
    keep = before >= 0
    starts, before = starts[keep], before[keep]
    order = np.argsort(before, kind="stable")
    out.start_order = starts[order]
    out.start_bounds = np.searchsorted(
        before[order], np.arange(len(table.texts) + 1), side="left"
    ).astype(np.int64)
    return out


def _build(index: ExampleIndex) -> RootTable:
    return build_root_table(index, action_table(index))


# the index's root table, built on first use (thread-safe, one per index object)
root_table: PerIndex[RootTable] = PerIndex(_build)
