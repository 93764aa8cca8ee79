"""How `lbi run`, `lbi ablate` and `lbi synthesize` guard every environment: each call
(`reset`, `step`, an expert's demonstration) under a time limit, so a hanging environment
becomes an `EnvError` naming the task and step, the environment is rebuilt for the next
episode, and the run goes on (`guard.py` does the guarding).

An environment says how, with class (or instance) attributes:
- `guard_mode`: "thread" (default: calls on a daemon thread; a hung one is abandoned and a
  fresh environment built), "process" (the environment lives in a child process that a
  hang kills: for pure-Python code that can loop forever), or "none" (it already enforces
  its own limits, as the BrowserGym envs' worker process does);
- `step_timeout_s` (default 120), `reset_timeout_s` (default 120), `call_timeout_s`
  (default 300: demonstrations, documents, task lists).
`--step-timeout` overrides the step limit for a run.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from lbi_icl.envs.base import Env
from lbi_icl.envs.guard import GuardedEnv
from lbi_icl.envs.registry import env_factory, make_env

DEFAULT_TIMEOUTS = {"step_timeout_s": 120.0, "reset_timeout_s": 120.0, "call_timeout_s": 300.0}


def _timeouts(source: object, step_timeout_s: float | None) -> dict[str, float]:
    out = {k: float(getattr(source, k, v)) for k, v in DEFAULT_TIMEOUTS.items()}
    if step_timeout_s is not None:
        out["step_timeout_s"] = float(step_timeout_s)
    return out


def env_for_run(name: str, options: dict[str, Any], *, step_timeout_s: float | None = None) -> Env:
    """`make_env(name, **options)` behind the guard its class asks for."""
    factory = partial(make_env, name, **options)
    cls = env_factory(name)
    mode = getattr(cls, "guard_mode", "thread")
    if mode == "none":
        return factory()
    if mode == "process":
        return GuardedEnv(factory, mode="process", name=name, **_timeouts(cls, step_timeout_s))
    env = factory()  # built here, so construction errors surface as themselves
    return GuardedEnv(
        env, mode="thread", name=name, rebuild=factory, **_timeouts(env, step_timeout_s)
    )
