"""The browser side of the adapter: one BrowserGym gym env, driven inside a worker process.

Everything here runs in the worker (`worker.py`): it imports BrowserGym and Playwright,
owns the browsers, and hands back only plain data (text, numbers, small dicts), so the
parent process never touches a browser and a hang or crash there cannot reach it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.envs.browsergym import procs
from lbi_icl.envs.browsergym.launch import (
    CHROMIUM_FLAGS,
    OFFLINE_FLAG,
    patch_playwright_launch,
    require_chromium,
)
from lbi_icl.envs.browsergym.protocol import LBI_ACTION_SET, ActionSetArgs
from lbi_icl.envs.browsergym.text import candidate_actions, render_observation

log = logging.getLogger(__name__)

# BrowserGym's high-level action subsets of the project's earlier (lbi) protocol.
DEFAULT_ACTION_SUBSETS: tuple[str, ...] = LBI_ACTION_SET.subsets


class SessionConfig(BaseModel):
    """How the worker builds BrowserGym envs (plain data: it crosses a process boundary)."""

    model_config = ConfigDict(extra="forbid")

    modules: list[str] = Field(default_factory=list)  # imported to register gym ids
    environ: dict[str, str] = Field(default_factory=dict)  # set before the first import
    action_set: ActionSetArgs = LBI_ACTION_SET
    max_tree_chars: int = 12000
    offline: bool = True  # resolve no host names (MiniWoB: file:// and 127.0.0.1 only)
    slow_mo: int | None = None  # None: the task's own (MiniWoB: 100 ms)
    timeout_ms: int | None = None  # Playwright default timeout; None: the task's own
    env_kwargs: dict[str, Any] = Field(default_factory=dict)  # extra gym.make kwargs
    # record the page context's network trace (Playwright HAR) for tasks scored on it
    record_har: bool = False
    som: bool = False  # screenshots get the set-of-marks drawn on them (som.py)
    # WebArena's fuzzy_match judge: {"spec": LLM spec, "base_url": ...} (wa_judge.py)
    judge: dict[str, Any] | None = None


class BrowserSession:
    """One BrowserGym env at a time; `reset` builds it for a gym id and seed."""

    def __init__(self, config: SessionConfig):
        self.config = config
        for key, value in config.environ.items():
            os.environ[key] = value
        import importlib

        import gymnasium  # noqa: F401  (BrowserGym registers with it)

        for module in config.modules:
            importlib.import_module(module)
        if config.judge:
            from lbi_icl.envs.browsergym.wa_judge import install_judge

            install_judge(config.judge)
        from browsergym.core import _get_global_playwright
        from browsergym.core.action.highlevel import HighLevelActionSet

        # BrowserGym warns at every reset that an option overrides the task's; the overrides
        # here are documented options (timeout_ms, slow_mo), so say it once, not per episode.
        logging.getLogger("browsergym.core.env").addFilter(_OnceFilter())
        self.executable = require_chromium()
        flags = CHROMIUM_FLAGS + ((OFFLINE_FLAG,) if config.offline else ())
        patch_playwright_launch(_get_global_playwright(), self.executable, flags)
        a = config.action_set
        self.action_set = HighLevelActionSet(
            subsets=list(a.subsets),
            strict=a.strict,
            multiaction=a.multiaction,
            retry_with_force=a.retry_with_force,
            demo_mode=a.demo_mode,  # type: ignore[arg-type]
        )
        self.verbs = frozenset(self.action_set.action_set)
        self.env: Any = None
        self.gym_id: str | None = None
        self.goal = ""
        self.last_obs: dict[str, Any] | None = None
        self.done = False
        self.har_path: Path | None = None
        self.expert_memory: dict[str, Any] = {}

    # -- episode ------------------------------------------------------------------------

    def _make(self, gym_id: str, task_kwargs: dict[str, Any]) -> Any:
        import gymnasium as gym

        kwargs: dict[str, Any] = {
            "headless": True,
            "action_mapping": self.action_set.to_python_code,
            # gymnasium's passive env checker inspects the first reset's and the first two
            # steps' observations (screenshot arrays, DOM dicts) of every env it wraps; an
            # env is made per episode here, so it would cost every episode, not once
            "disable_env_checker": True,
            **self.config.env_kwargs,
        }
        if task_kwargs:
            kwargs["task_kwargs"] = task_kwargs
        if self.config.slow_mo is not None:
            kwargs["slow_mo"] = self.config.slow_mo
        if self.config.timeout_ms is not None:
            kwargs["timeout"] = self.config.timeout_ms
        if self.config.record_har:
            # Playwright's own HAR recorder on the page context; written when it closes
            self.har_path = Path(tempfile.mkdtemp(prefix="lbi-har-")) / "network.har"
            kwargs["pw_context_kwargs"] = {
                "record_har_path": str(self.har_path),
                "record_har_content": "embed",
            }
        return gym.make(gym_id, **kwargs)

    def _shot(self, obs: dict[str, Any], path: str | None) -> str | None:
        if not path:
            return None
        from lbi_icl.envs.browsergym.som import save_png

        return save_png(obs, path, marks=self.config.som)

    def reset(
        self,
        gym_id: str,
        seed: int,
        task_kwargs: dict[str, Any] | None = None,
        shot: str | None = None,
    ) -> dict[str, Any]:
        tc = time.perf_counter()
        self.close_env()
        t0 = time.perf_counter()
        self.env = self._make(gym_id, dict(task_kwargs or {}))
        self.gym_id = gym_id
        t1 = time.perf_counter()
        obs, info = self.env.reset(seed=seed)
        t2 = time.perf_counter()
        self.goal = str(obs.get("goal") or "")
        self.last_obs = obs
        self.done = False
        self.expert_memory: dict[str, Any] = {}
        text, stats = render_observation(obs, self.goal, max_tree_chars=self.config.max_tree_chars)
        stats["timing"] = {
            "close_s": t0 - tc,  # the previous episode's browsers
            "make_s": t1 - t0,
            "env_reset_s": t2 - t1,
            "render_s": time.perf_counter() - t2,
        }
        return {
            "observation": text,
            "goal": self.goal,
            "stats": stats,
            "info": _plain(info.get("task_info", {})),
            "seconds": time.perf_counter() - t0,
            "screenshot": self._shot(obs, shot),
        }

    def step(self, action: str, shot: str | None = None) -> dict[str, Any]:
        if self.env is None:
            raise RuntimeError("step before reset")
        t0 = time.perf_counter()
        obs, reward, terminated, truncated, info = self.env.step(action)
        t1 = time.perf_counter()
        self.last_obs = obs
        self.done = bool(terminated or truncated)
        text, stats = render_observation(obs, self.goal, max_tree_chars=self.config.max_tree_chars)
        error = str(obs.get("last_action_error") or "").strip()
        task_info = info.get("task_info") or {}
        t2 = time.perf_counter()
        if terminated and task_info.get("needs_trace"):
            reward, task_info = self._score_trace()
        if self.config.judge:
            from lbi_icl.envs.browsergym.wa_judge import take_calls

            judged = take_calls()
            if judged is not None:
                task_info = {**task_info, "judge": judged}
        # where the worker's time went (benchmarks/web: adapter overhead per step)
        stats["timing"] = {
            "env_step_s": t1 - t0,
            "render_s": t2 - t1,
            "score_s": time.perf_counter() - t2,
            **step_phases(info),
        }
        return {
            "observation": text,
            "reward": float(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
            "error": error or None,
            "stats": stats,
            "url": str(obs.get("url") or ""),
            "open_urls": [str(u) for u in obs.get("open_pages_urls") or []],
            "task_info": _plain(task_info),
            "screenshot": self._shot(obs, shot),
            "chat": [
                {"role": str(m.get("role")), "message": str(m.get("message"))}
                for m in obs.get("chat_messages") or []
            ],
        }

    def _score_trace(self) -> tuple[float, dict[str, Any]]:
        """End of an episode scored on its network trace: close the env (Playwright writes
        the HAR when the context closes), then let the task score it."""
        task = self.env.unwrapped.task
        last_obs = self.last_obs
        self.close_env(keep_trace=True)
        self.last_obs = last_obs  # the final observation stays readable
        try:
            if self.har_path is None:
                raise RuntimeError(f"{self.gym_id}: scored on a network trace; record_har is off")
            return task.score_trace(self.har_path)
        finally:
            self._drop_trace()

    def _drop_trace(self) -> None:
        path, self.har_path = self.har_path, None
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)

    def expert_action(self) -> str | None:
        """The scripted MiniWoB expert's next action on the current page (`experts/`), or
        None (no solver for this task, or it is stuck)."""
        from lbi_icl.envs.browsergym.experts import expert_action

        if self.last_obs is None or self.gym_id is None or self.done:
            return None
        prefix = "browsergym/miniwob."
        task = self.gym_id.removeprefix(prefix) if self.gym_id.startswith(prefix) else ""
        return expert_action(task, self.goal, self.last_obs, self.expert_memory)

    def valid_actions(self) -> list[str]:
        if self.last_obs is None:
            return []
        return candidate_actions(self.last_obs, self.goal, verbs=self.verbs)

    def action_space_text(self) -> str:
        return str(self.action_set.describe(with_long_description=False, with_examples=True))

    def browser_pids(self) -> list[int]:
        return procs.descendants(os.getpid())

    # -- teardown -----------------------------------------------------------------------

    def close_env(self, keep_trace: bool = False) -> None:
        env, self.env = self.env, None
        self.last_obs = None
        if env is not None:
            try:
                env.close()
            except Exception as e:  # a dead browser cannot be closed politely
                log.debug("closing the BrowserGym env failed: %s", e)
        if not keep_trace:
            self._drop_trace()

    def close(self) -> None:
        self.close_env()
        from browsergym import core

        pw = getattr(core, "_PLAYWRIGHT", None)
        if pw is not None:
            with contextlib.suppress(Exception):
                pw.stop()
            core._PLAYWRIGHT = None


_PHASES = {  # BrowserGym's own timestamps in a step's info: (start key, stop key)
    "action_s": ("action_exec_start", "action_exec_stop"),
    "page_wait_s": ("wait_for_page_loading_start", "wait_for_page_loading_stop"),
    "validate_s": ("validation_start", "validation_stop"),
    "observe_s": ("get_observation_start", "get_observation_stop"),
}


def step_phases(info: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase of a BrowserGym step (execute the action, wait for the page, the
    task's validation, extracting the observation), from the timestamps it records."""
    out = {}
    for name, (start, stop) in _PHASES.items():
        if isinstance(info.get(start), float) and isinstance(info.get(stop), float):
            out[name] = info[stop] - info[start]
    return out


class _OnceFilter(logging.Filter):
    """Lets each distinct "Overriding the task's ..." warning through once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if not msg.startswith("Overriding the task's"):
            return True
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


def _plain(x: Any) -> Any:
    """JSON-safe copy (numpy scalars and arrays become Python values)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return str(x)
