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

Plus a step-position prior, w_position * max(0, 1 - |q - t| / position_scale), with q the
candidate's step in its root trajectory and t the agent's step number: it tells apart the
phases of a long task whose observation repeats.
"""

from __future__ import annotations

import numpy as np

from lbi_icl.retrieval.action_table import ActionTable, action_table, norm_action, verb_of
from lbi_icl.retrieval.base import StepContext
from lbi_icl.retrieval.fused_config import HistoryConfig
from lbi_icl.retrieval.root_table import RootTable, root_table
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
    roots: RootTable | None = None,
) -> np.ndarray:
    """`alignment` for step rows of an index, vectorized over its action codes: the j-th
    previous action of row r is row r - j when r's position in its example is at least j,
    else (with `roots`) the root trajectory's action j steps before r, when known."""
    out = np.zeros(len(rows), dtype=np.float64)
    if not agent or not len(rows):
        return out
    total = sum(decay**j for j in range(len(agent)))
    for j, act in enumerate(agent, start=1):
        inside = pos >= j
        code = np.where(inside, table.codes[np.where(inside, rows - j, 0)], -1)
        if roots is not None and not inside.all():
            code = np.where(inside, code, roots.previous(rows, j))
        valid = code >= 0
        safe = np.where(valid, code, 0)
        verb_of_prev = roots.code_verb[safe] if roots is not None else None
        if verb_of_prev is None:
            verb_of_prev = np.where(inside, table.verb_codes[np.where(inside, rows - j, 0)], -1)
        exact = valid & (code == table.code_of(act))
        verb = valid & ~exact & (verb_of_prev == table.verb_code_of(act))
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
        index = self._need_index()
        table = action_table(index)
        last = ctx.history[-1].action
        after = table.rows_after(last)
        if self.settings.root_alignment:
            after = np.union1d(after, root_table(index).rows_after(table.code_of(last)))
        return [np.union1d(after, groups[0]) if groups else after]

    def extra_terms(self, ctx: StepContext, rows: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
        aligned = self.alignment_term(ctx, rows, pos)
        prior = self.position_term(ctx, rows, pos)
        if aligned is None or prior is None:
            return prior if aligned is None else aligned
        return aligned + prior

    def position_term(
        self, ctx: StepContext, rows: np.ndarray, pos: np.ndarray
    ) -> np.ndarray | None:
        """Long tasks repeat one observation for dozens of steps (polling a thermometer,
        waiting for a plant); the agent's step number tells which phase it is in, so a
        candidate at about the same step of its root trajectory is more likely the same
        point. Linear fall-off to 0 at `position_scale` steps apart."""
        s = self.settings
        if not s.w_position:
            return None
        roots = root_table(self._need_index())
        step_in_root = np.where(roots.root[rows] >= 0, roots.pos[rows], pos)
        gap = np.abs(step_in_root - ctx.step) / s.position_scale
        return s.w_position * np.maximum(0.0, 1.0 - gap)

    def alignment_term(
        self, ctx: StepContext, rows: np.ndarray, pos: np.ndarray
    ) -> np.ndarray | None:
        s = self.settings
        if not s.w_history:
            return None
        index = self._need_index()
        roots = root_table(index) if s.root_alignment else None
        if not ctx.history:  # the start of the task: the start of an example (of its root)
            start = (
                pos == 0
                if roots is None
                else (roots.pos[rows] == 0) | (roots.root[rows] < 0) & (pos == 0)
            )
            return s.w_history * start.astype(np.float64)
        agent = [st.action for st in reversed(ctx.history[-s.history_steps :])]
        return s.w_history * alignment_rows(
            action_table(index),
            rows,
            pos,
            agent,
            decay=s.decay,
            verb_credit=s.verb_credit,
            roots=roots,
        )
