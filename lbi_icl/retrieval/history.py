"""`history`: `task_aware` plus history alignment (TRAD-style): a candidate step scores
higher when the actions that precede it in its example match the agent's own recent
actions, so the retrieved step is the *same point* of a similar trajectory and its next
action is the one the agent needs.

Alignment of candidate row r (position p in its example) with the agent's history
h_1 (last action), h_2, ...:

    sum_{j=1..J} decay^(j-1) * match(h_j, action at row r - j)  /  sum_{j=1..J} decay^(j-1)

with J = min(history_steps, len(history)); match = 1 for the same action (whitespace
collapsed, case-insensitive), `verb_credit` for the same verb only, 0 otherwise, and 0
for j > p (the example window starts after that point). With no history yet the agent is
at the start of its task: alignment = 1 for candidates at their example's first step.
"""

from __future__ import annotations

import numpy as np

from lbi_icl.retrieval.action_table import ActionTable, action_table, norm_action, verb_of
from lbi_icl.retrieval.base import StepContext
from lbi_icl.retrieval.fused_config import HistoryConfig
from lbi_icl.retrieval.task_aware import TaskAwareRetriever


def alignment(
    agent: list[str],
    previous: list[list[str]],
    *,
    decay: float,
    verb_credit: float,
) -> np.ndarray:
    """Per candidate: the decayed match of `agent` (most recent first) against the
    candidate's preceding actions `previous[c]` (most recent first, possibly shorter)."""
    out = np.zeros(len(previous), dtype=np.float64)
    if not agent:
        return out
    weights = [decay**j for j in range(len(agent))]
    total = sum(weights)
    agent_n = [norm_action(a) for a in agent]
    agent_v = [verb_of(a) for a in agent]
    for c, prev in enumerate(previous):
        score = 0.0
        for j, act in enumerate(prev[: len(agent)]):
            a = norm_action(act)
            if a == agent_n[j]:
                score += weights[j]
            elif verb_credit and verb_of(a) == agent_v[j]:
                score += verb_credit * weights[j]
        out[c] = score / total
    return out


def alignment_rows(
    table: ActionTable,
    rows: np.ndarray,
    pos: np.ndarray,
    agent: list[str],
    *,
    decay: float,
    verb_credit: float,
) -> np.ndarray:
    """`alignment` for step rows of an index, vectorized over its action codes: the j-th
    previous action of row r is row r - j when r's position in its example is at least j."""
    out = np.zeros(len(rows), dtype=np.float64)
    if not agent or not len(rows):
        return out
    total = sum(decay**j for j in range(len(agent)))
    for j, act in enumerate(agent, start=1):
        valid = pos >= j
        prev = np.where(valid, rows - j, 0)
        exact = valid & (table.codes[prev] == table.code_of(act))
        verb = valid & ~exact & (table.verb_codes[prev] == table.verb_code_of(act))
        out += decay ** (j - 1) * (exact + verb_credit * verb)
    return out / total


class HistoryRetriever(TaskAwareRetriever):
    name = "history"

    @property
    def settings(self) -> HistoryConfig:
        return self.config.history

    def extra_rows(self, ctx: StepContext) -> list[np.ndarray]:
        """The task family's rows (`task_aware`) together with the step rows that follow
        the agent's last action in their example: the best `pool` of them by BM25 join the
        candidates, so the same point of a similar trajectory is found even when BM25 ties
        thousands of rows on a short observation ("The door is now open."). (Two groups of
        `pool` each, family and after-rows apart, were measured: ScienceWorld dev hit@5
        exact 63.5 -> 61.5, so they stay one group.)"""
        groups = super().extra_rows(ctx)
        if not self.settings.follow_last_action or not ctx.history:
            return groups
        after = action_table(self._need_index()).rows_after(ctx.history[-1].action)
        return [np.union1d(after, groups[0]) if groups else after]

    def extra_terms(self, ctx: StepContext, rows: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
        s = self.settings
        if not s.w_history:
            return None
        if not ctx.history:
            return s.w_history * (pos == 0).astype(np.float64)
        agent = [st.action for st in reversed(ctx.history[-s.history_steps :])]
        table = action_table(self._need_index())
        return s.w_history * alignment_rows(
            table, rows, pos, agent, decay=s.decay, verb_credit=s.verb_credit
        )
