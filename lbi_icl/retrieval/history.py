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

from lbi_icl.retrieval.base import StepContext
from lbi_icl.retrieval.fused_config import HistoryConfig
from lbi_icl.retrieval.task_aware import TaskAwareRetriever


def norm_action(action: str) -> str:
    return " ".join(action.lower().split())


def verb_of(action: str) -> str:
    from lbi_icl.retrieval.evaluate import action_verb

    return action_verb(action)


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


class HistoryRetriever(TaskAwareRetriever):
    name = "history"

    @property
    def settings(self) -> HistoryConfig:
        return self.config.history

    def extra_terms(self, ctx: StepContext, rows: np.ndarray, pos: np.ndarray) -> np.ndarray | None:
        s = self.settings
        if not s.w_history:
            return None
        if not ctx.history:
            return s.w_history * (pos == 0).astype(np.float64)
        index = self._need_index()
        agent = [st.action for st in reversed(ctx.history[-s.history_steps :])]
        previous = [
            [index.actions[int(r) - j] for j in range(1, min(int(p), len(agent)) + 1)]
            for r, p in zip(rows, pos, strict=True)
        ]
        return s.w_history * alignment(agent, previous, decay=s.decay, verb_credit=s.verb_credit)
