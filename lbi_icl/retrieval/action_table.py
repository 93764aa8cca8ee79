"""Integer codes for every step row's action (normalized text, and its verb), built once per
loaded index on first use, so the fused strategies compare actions with numpy instead of
reading and normalizing strings per candidate. One sequential scan of the step table's
action blob (about 1 s per 1M rows on this machine); cached per `ExampleIndex` object."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval.per_index import PerIndex


def norm_action(action: str) -> str:
    """Lowercased, whitespace collapsed: the identity of an action."""
    return " ".join(action.lower().split())


def verb_of(action: str) -> str:
    from lbi_icl.retrieval.evaluate import action_verb

    return action_verb(action)


@dataclass
class ActionTable:
    codes: np.ndarray  # int32 per step row: code of the normalized action
    verb_codes: np.ndarray  # int32 per step row: code of its verb
    texts: list[str]  # normalized action per code
    after_order: np.ndarray  # step rows sorted by their previous action's code (CSR values)
    after_start: np.ndarray  # after_order[after_start[c]:after_start[c + 1]]: rows after code c
    label_order: np.ndarray  # step rows sorted by their example's task-family label code
    label_start: np.ndarray  # label_order[label_start[l]:label_start[l + 1]]: rows of label l
    code_order: np.ndarray  # step rows sorted by action code
    code_start: np.ndarray  # code_order[code_start[c]:code_start[c + 1]]: rows taking code c
    verb_order: np.ndarray  # action codes sorted by their verb code
    verb_start: np.ndarray  # verb_order[verb_start[v]:verb_start[v + 1]]: codes with verb v
    _code: dict[str, int] = field(default_factory=dict)
    _verb: dict[str, int] = field(default_factory=dict)

    def code_of(self, action: str) -> int:
        """The code of an action, -1 when no step row has it."""
        return self._code.get(norm_action(action), -1)

    def verb_code_of(self, action: str) -> int:
        return self._verb.get(verb_of(action), -1)

    def rows_after(self, action: str) -> np.ndarray:
        """Step rows whose previous step (same example) took `action`, in row order."""
        c = self.code_of(action)
        if c < 0:
            return np.zeros(0, dtype=np.int64)
        return self.after_order[self.after_start[c] : self.after_start[c + 1]]

    def rows_of_code(self, code: int) -> np.ndarray:
        """Step rows whose action has code `code`."""
        return self.code_order[self.code_start[code] : self.code_start[code + 1]]

    def codes_of_verb(self, verb: int) -> np.ndarray:
        """Action codes whose verb has code `verb`."""
        if verb < 0 or verb + 1 >= len(self.verb_start):
            return np.zeros(0, dtype=np.int64)
        return self.verb_order[self.verb_start[verb] : self.verb_start[verb + 1]]

    def rows_of_label(self, code: int) -> np.ndarray:
        """Step rows of examples whose task-family label has meta code `code`."""
        if code < 0 or code + 1 >= len(self.label_start):
            return np.zeros(0, dtype=np.int64)
        return self.label_order[self.label_start[code] : self.label_start[code + 1]]


def build_action_table(index: ExampleIndex) -> ActionTable:
    code: dict[str, int] = {}
    verb: dict[str, int] = {}
    texts: list[str] = []
    text_verb: list[int] = []
    codes = np.empty(index.n_steps, dtype=np.int32)
    for row, raw in enumerate(index.actions.iter_texts()):
        a = norm_action(raw)
        c = code.get(a)
        if c is None:
            c = code[a] = len(texts)
            texts.append(a)
            text_verb.append(verb.setdefault(verb_of(a), len(verb)))
        codes[row] = c
    verb_codes = np.asarray(text_verb, dtype=np.int32)[codes] if len(codes) else codes.copy()
    pos = np.asarray(index.step_pos, dtype=np.int64)
    prev = np.full(len(codes), -1, dtype=np.int64)
    has_prev = np.flatnonzero(pos > 0)
    prev[has_prev] = codes[has_prev - 1]
    order = np.argsort(prev, kind="stable")
    start = np.searchsorted(prev[order], np.arange(len(texts) + 1), side="left")
    labels = np.asarray(index.meta_column("label"), dtype=np.int64)[
        np.asarray(index.step_example, dtype=np.int64)
    ]
    l_order = np.argsort(labels, kind="stable")
    n_labels = len(index.meta_values.get("label", []))
    l_start = np.searchsorted(labels[l_order], np.arange(n_labels + 1), side="left")
    c_order = np.argsort(codes, kind="stable")
    c_start = np.searchsorted(codes[c_order], np.arange(len(texts) + 1), side="left")
    code_verb = np.asarray(text_verb, dtype=np.int64)
    v_order = np.argsort(code_verb, kind="stable")
    v_start = np.searchsorted(code_verb[v_order], np.arange(len(verb) + 1), side="left")
    return ActionTable(
        code_order=c_order.astype(np.int64),
        code_start=c_start.astype(np.int64),
        verb_order=v_order.astype(np.int64),
        verb_start=v_start.astype(np.int64),
        label_order=l_order.astype(np.int64),
        label_start=l_start.astype(np.int64),
        codes=codes,
        verb_codes=verb_codes,
        texts=texts,
        after_order=order.astype(np.int64),
        after_start=start.astype(np.int64),
        _code=code,
        _verb=verb,
    )


# the index's action table, built on first use (thread-safe, one per index object)
action_table: PerIndex[ActionTable] = PerIndex(build_action_table)
