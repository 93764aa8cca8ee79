"""Stage 2 of the synthesis for one task: every configured explorer's rollout, in order.

`Explorer` needs only the config, an environment and (for the `llm` explorer) an LLM, so
the same object runs in the synthesis process (`--executor local`) or in a Ray actor
(`--executor ray`, `ray_rollouts.py`); the pipeline turns its output into examples.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from lbi_icl.data import Trajectory
from lbi_icl.envs.base import Env
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import PromptSet
from lbi_icl.synth.config import SynthConfig, stable_seed
from lbi_icl.synth.rollout import (
    Rollout,
    rollout_coverage,
    rollout_expert,
    rollout_llm,
    rollout_noisy_expert,
    rollout_random,
)
from lbi_icl.synth.self_instruct import SynthTask

log = logging.getLogger(__name__)


@dataclass
class Rolled:
    """One explorer's rollout of a task and the seconds it took."""

    explorer: str
    rollout: Rollout
    seconds: float


def _has_expert(env: Env, st: SynthTask) -> bool:
    """An env's own `has_expert(task)` (True when it has none: `demonstrate` decides)."""
    try:
        has = getattr(env, "has_expert", None)
    except AttributeError:
        return True
    return bool(has(st.task)) if callable(has) else True


class Explorer:
    def __init__(
        self, config: SynthConfig, env: Env, llm: LLM | None, *, prompts: PromptSet | None = None
    ):
        self.config = config
        self.env = env
        self.llm = llm
        self.prompts = prompts  # the LLM explorer's templates (defaults when None)
        self._expert: tuple[str, Trajectory | None] = ("", None)  # reused by noisy_expert

    def rollouts(self, st: SynthTask) -> list[Rolled]:
        """Each explorer's rollout of `st`; a crashing env skips that rollout, not the run."""
        out = []
        for explorer in self.config.explorers:
            explorer = self.resolve(st, explorer)
            t0 = time.perf_counter()
            try:
                ro = self.rollout(st, explorer)
            except Exception as e:
                log.warning("%s on %s failed: %s", explorer, st.uid, e)
                ro = Rollout(None, f"error: {type(e).__name__}")
            out.append(Rolled(explorer, ro, time.perf_counter() - t0))
        return out

    def resolve(self, st: SynthTask, explorer: str) -> str:
        """`explorer`, except `expert` on a task the env has no expert for, when the env
        names what to use instead (`expert_fallback`: MiniWoB's scripted solvers cover
        some tasks, `coverage` explores the rest)."""
        if explorer != "expert" or _has_expert(self.env, st):
            return explorer
        try:
            fallback = getattr(self.env, "expert_fallback", None)
        except AttributeError:
            fallback = None
        return str(fallback) if fallback else explorer

    def rollout(self, st: SynthTask, explorer: str) -> Rollout:
        c, env = self.config, self.env
        seed = stable_seed(c.seed, st.uid, explorer)
        if explorer == "expert":
            ro = rollout_expert(env, st.task, st.uid, max_steps=c.max_steps)
            self._expert = (st.uid, ro.trajectory)
            return ro
        if explorer == "noisy_expert":
            demo = self._expert[1] if self._expert[0] == st.uid else None
            return rollout_noisy_expert(
                env,
                st.task,
                st.uid,
                epsilon=c.epsilon,
                seed=seed,
                max_steps=c.max_steps,
                demo=demo,
            )
        if explorer == "random":
            return rollout_random(env, st.task, st.uid, seed=seed, max_steps=c.max_steps)
        if explorer == "coverage":
            return rollout_coverage(env, st.task, st.uid, seed=seed, max_steps=c.max_steps)
        if explorer == "llm":
            if self.llm is None:
                raise ValueError("explorer 'llm' needs an LLM (--llm SPEC)")
            return rollout_llm(
                env,
                st.task,
                st.uid,
                self.llm,
                seed=seed % (2**31),
                max_steps=c.max_steps,
                temperature=c.temperature,
                prompts=self.prompts,
            )
        raise ValueError(f"unknown explorer {explorer!r}")
