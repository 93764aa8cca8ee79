"""When an episode stops: every stopping rule of the agent loop, checked in one place.

`Limits.stop_reason` is asked before every policy call and answers, in this order: `done`
(the env ended the episode), `unparsable` (`max_unparsable` answers in a row produced no
executable action), `max_steps` policy calls, `token_limit` (`max_total_tokens`, policy +
query-writer tokens), `cost_limit` (`max_cost_usd`, known costs only; a warning is logged
once when a price is unknown), `wall_time` (`max_wall_s`, between steps). A step that is
still running when `max_wall_s` passes is cut by the guarded env's deadline (`arm`), and
`cut_by_wall_time` recognises the failure it raises.
"""

from __future__ import annotations

import logging
import time

from lbi_icl.agent.base import AgentConfig, StopReason
from lbi_icl.agent.recorder import EpisodeTotals
from lbi_icl.envs.base import Env
from lbi_icl.envs.guard import EnvWallTime, GuardedEnv

logger = logging.getLogger(__name__)


class Limits:
    """One episode's stopping rules and the counters only they read."""

    def __init__(self, config: AgentConfig, task_id: str) -> None:
        self.config, self.task_id = config, task_id
        self.started = time.monotonic()
        self.bad_in_a_row = 0  # consecutive answers with no executable action
        self._warned_cost = False

    def arm(self, env: Env) -> None:
        """Start the clock; a guarded env cuts a step that would outlive `max_wall_s`."""
        self.started = time.monotonic()
        if isinstance(env, GuardedEnv) and self.config.max_wall_s is not None:
            env.deadline = self.started + self.config.max_wall_s

    def disarm(self, env: Env) -> None:
        if isinstance(env, GuardedEnv):
            env.deadline = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def answered(self, executable: bool) -> None:
        """Count one policy answer toward `max_unparsable`."""
        self.bad_in_a_row = 0 if executable else self.bad_in_a_row + 1

    @staticmethod
    def cut_by_wall_time(failure: BaseException) -> bool:
        """A step failure that is the guarded env's deadline (`arm`) cutting the step."""
        return isinstance(failure.__cause__, EnvWallTime)

    def stop_reason(self, totals: EpisodeTotals, *, done: bool) -> StopReason | None:
        """Why the episode stops now (None: ask the policy again)."""
        cfg = self.config
        if done:
            return "done"
        if self.bad_in_a_row >= cfg.max_unparsable:
            return "unparsable"
        if totals.policy_calls >= cfg.max_steps:
            return "max_steps"
        if cfg.max_total_tokens is not None and totals.tokens >= cfg.max_total_tokens:
            return "token_limit"
        if cfg.max_cost_usd is not None:
            if totals.cost_unknown and not self._warned_cost:
                self._warned_cost = True
                logger.warning(
                    "task %s: some LLM prices are unknown; the cost limit counts known costs",
                    self.task_id,
                )
            if totals.cost_usd >= cfg.max_cost_usd:
                return "cost_limit"
        if cfg.max_wall_s is not None and self.elapsed() >= cfg.max_wall_s:
            return "wall_time"
        return None
