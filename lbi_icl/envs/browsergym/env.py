"""`BrowserGymEnv`: the lbi_icl `Env` protocol over a BrowserGym gym env.

The browser never runs in the caller's process: a `BrowserWorker` child owns Playwright
and Chromium (`session.py`), every call has a wall-time limit, and a hang or crash becomes
an `EnvError` naming the task and step; the worker (and every browser process below it) is
killed, and the next `reset` starts a fresh one. `close()` leaves no browser process.

Subclasses say which gym ids exist (`tasks`) and how a `Task` maps to one
(`gym_target`); see `miniwob.py` and `webarena.py`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

from lbi_icl.data import Document, Task, Trajectory
from lbi_icl.envs.base import EnvError, StepResult
from lbi_icl.envs.browsergym.protocol import LBI_ACTION_SET, ActionSetArgs, Protocol
from lbi_icl.envs.browsergym.session import SessionConfig
from lbi_icl.envs.browsergym.shots import Shots, check_obs_mode, visual_text
from lbi_icl.envs.browsergym.worker import BrowserWorker, session_call, session_open
from lbi_icl.envs.guard import RemoteError, WorkerCrashed, WorkerTimeout

log = logging.getLogger(__name__)

_ACTION = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$", re.DOTALL)
_ARG = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^,]+))\s*(?:,|$)""")


def parse_action(action: str) -> tuple[str, list[str]]:
    """('click', ['12']) from 'click("12")'; ('', []) when it is not a call."""
    m = _ACTION.match(action)
    if m is None:
        return "", []
    args = []
    for a in _ARG.finditer(m.group(2)):
        if a.group(0).strip() == "":
            continue
        val = next((g for g in a.groups() if g is not None), "")
        args.append(val.strip())
    return m.group(1), args


def element_line(observation: str, bid: str) -> str | None:
    """'button 'Submit'' for `[bid] button 'Submit', clickable` in an observation text."""
    marker = f"[{bid}] "
    for line in observation.splitlines():
        s = line.strip()
        if s.startswith(marker):
            m = _ELEMENT.match(s[len(marker) :])
            return m.group(0) if m else None
    return None


# role, then the accessible name as BrowserGym writes it (Python repr: '...' or "...")
_ELEMENT = re.compile(r"""[\w-]+(?: (?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"))?""")


class BrowserGymEnv:
    """Base class: one BrowserGym benchmark behind the `Env` protocol."""

    name = "browsergym"
    benchmark = "browsergym"
    # its calls already run in a worker process with time limits (worker.py): not guarded
    # again by runs (envs/run_guard.py)
    guard_mode: ClassVar[str] = "none"
    # per Ray worker (`--executor ray`): a headless Chromium (a core, ~1 GiB)
    worker_resources: ClassVar[dict[str, Any]] = {"num_cpus": 1, "memory": 1.0 * 2**30}
    default_step_limit: int | None = None  # the episode ends (truncated) after this many
    default_timeout_ms: int | None = None  # Playwright's default timeout (page loads)

    def __init__(
        self,
        *,
        reset_timeout_s: float = 180.0,
        step_timeout_s: float = 60.0,
        max_tree_chars: int = 12000,
        slow_mo: int | None = None,
        timeout_ms: int | None = None,
        action_subsets: list[str] | None = None,
        memory_limit_mb: int | None = None,
        step_limit: int | None = None,
        reset_retries: int = 1,
        obs: str = "axtree",
        screenshot_dir: str | None = None,
        protocol: Protocol | None = None,
    ):
        p = self.protocol = protocol
        # what a user set over the protocol's values (said in the run notes)
        self.overrides = {
            k: v
            for k, v in (
                ("step_limit", step_limit),
                ("timeout_ms", timeout_ms),
                ("slow_mo", slow_mo),
                ("action_subsets", action_subsets),
            )
            if v is not None and p is not None
        }
        self.reset_retries = reset_retries
        self.step_limit = (
            step_limit
            if step_limit is not None
            else (p.max_steps if p is not None else self.default_step_limit)
        )
        self.reset_timeout_s = reset_timeout_s
        self.step_timeout_s = step_timeout_s
        self.max_tree_chars = max_tree_chars
        self.slow_mo = slow_mo if slow_mo is not None or p is None else p.slow_mo
        self.timeout_ms = (
            timeout_ms
            if timeout_ms is not None
            else (p.timeout_ms if p is not None else self.default_timeout_ms)
        )
        base = p.action_set if p is not None else LBI_ACTION_SET
        self.action_set: ActionSetArgs = (
            base.model_copy(update={"subsets": tuple(action_subsets)}) if action_subsets else base
        )
        self.action_subsets = list(self.action_set.subsets)
        self.obs_mode = check_obs_mode(self.name, obs)
        self.shots = Shots(screenshot_dir, wanted=obs != "axtree")
        self._memory_limit_mb = memory_limit_mb
        self._worker: BrowserWorker | None = None
        self._open = False
        self._action_text: str | None = None
        self.current_task: Task | None = None
        self.step_count = 0
        self.observation = ""
        self.goal = ""
        self.done = False
        self.last_stats: dict[str, Any] = {}
        self.last_shot: str | None = None

    # -- hooks for subclasses -------------------------------------------------------------

    def session_modules(self) -> list[str]:
        return []

    def session_environ(self) -> dict[str, str]:
        return {}

    def session_offline(self) -> bool:
        return True

    def check_ready(self) -> None:
        """Raise a clear error when the benchmark cannot run here (missing site URLs)."""

    def url_aliases(self) -> list[tuple[str, str]]:
        """(local prefix, stable token) pairs: every text the env hands out says the token
        instead of the prefix (a machine's paths never reach observations, logs or
        indexes), and an action naming the token is sent with the prefix (MiniWoB)."""
        return []

    def gym_target(self, task: Task) -> tuple[str, int, dict[str, Any]]:
        """(gym id, seed, task_kwargs) for `task`."""
        meta = task.metadata
        return str(meta["gym_id"]), int(meta.get("seed", 0)), dict(meta.get("task_kwargs") or {})

    def tasks(self, split: str) -> list[Task]:
        raise NotImplementedError

    def documents(self) -> list[Document]:
        return [
            Document(
                id=f"{self.name}/actions",
                env=self.name,
                title="Actions",
                text=self.action_space_text(),
            )
        ]

    def success(self, reward: float, done: bool, info: dict[str, Any]) -> bool:
        return done and reward > 0

    # -- plumbing -----------------------------------------------------------------------

    def run_notes(self) -> list[str]:
        """The protocol and its values (run manifest, report header)."""
        notes = []
        if self.protocol is not None:
            over = ", ".join(f"{k}={v!r}" for k, v in self.overrides.items())
            notes.append(self.protocol.note() + (f"; overridden: {over}" if over else ""))
        if self.obs_mode != "axtree":
            notes.append(
                f"observation {self.obs_mode}: a screenshot per step (PNG; its path in the "
                "step's info.screenshot), sent as an image to models that take images"
            )
        return notes

    def bind_run(self, config: Any) -> None:
        """Called by the runner with the run's config: screenshots go into the run folder
        (`RUN/screens`) unless `screenshot_dir` was given."""
        out = getattr(config, "out", None)
        if out:
            self.shots.default_dir(str(out))

    def session_config(self) -> SessionConfig:
        return SessionConfig(
            modules=self.session_modules(),
            environ=self.session_environ(),
            action_set=self.action_set,
            max_tree_chars=self.max_tree_chars,
            offline=self.session_offline(),
            slow_mo=self.slow_mo,
            timeout_ms=self.timeout_ms,
            som="som" in self.obs_mode,
        )

    def _where(self, action: str | None = None) -> str:
        task = f"task {self.current_task.id!r}" if self.current_task else "no task"
        act = f" ({action!r})" if action is not None else ""
        return f"{self.name}: {task}, step {self.step_count}{act}"

    def _call(self, method: str, *args: Any, timeout_s: float, action: str | None = None) -> Any:
        if self._worker is None:
            self._worker = BrowserWorker(
                memory_limit_mb=self._memory_limit_mb, name=f"lbi-browser-{self.name}"
            )
        try:
            if not self._open:
                self._worker.call(
                    session_open,
                    self.session_config().model_dump(mode="json"),
                    timeout_s=self.reset_timeout_s,
                )
                self._open = True
            result, pids = self._worker.call(session_call, method, *args, timeout_s=timeout_s)
            if pids is not None:
                self._worker.note_pids(pids)
            return self._unlocal(result)
        except WorkerTimeout as e:
            self._kill()
            raise EnvError(
                f"{self._where(action)}: {method} timed out after {timeout_s:g}s; browser killed"
            ) from e
        except WorkerCrashed as e:
            self._kill()
            why = self._unlocal(str(e))
            raise EnvError(f"{self._where(action)}: {method} crashed the browser: {why}") from e
        except RemoteError as e:
            log.debug("remote traceback:\n%s", e.remote_traceback)
            why = self._unlocal(str(e))  # Playwright names the page's URL
            raise EnvError(f"{self._where(action)}: {method} failed: {why}") from e

    def _unlocal(self, value: Any) -> Any:
        """`value` with every local prefix replaced by its token (`url_aliases`)."""
        if isinstance(value, str):
            for prefix, token in self._aliases():
                value = value.replace(prefix, token)
            return value
        if isinstance(value, dict):
            return {k: self._unlocal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._unlocal(v) for v in value]
        return value

    def _relocal(self, action: str) -> str:
        for prefix, token in self._aliases():
            action = action.replace(token, prefix)
        return action

    def _aliases(self) -> list[tuple[str, str]]:
        if not hasattr(self, "_alias_cache"):
            # longest prefix first: a file:// URL before the bare path inside it
            pairs = [(p, t) for p, t in self.url_aliases() if p]
            self._alias_cache = sorted(pairs, key=lambda pt: -len(pt[0]))
        return self._alias_cache

    def _kill(self) -> None:
        self._open = False
        if self._worker is not None:
            self._worker.kill()

    def browser_pids(self) -> list[int]:
        """Processes of the browser worker and everything it started (tests, benchmarks)."""
        from lbi_icl.envs.browsergym import procs

        if self._worker is None:
            return []
        pids = set(self._worker.tagged_pids())
        if self._worker.pid is not None:
            pids |= {self._worker.pid, *procs.descendants(self._worker.pid)}
        return sorted(procs.alive(sorted(pids)))

    # -- the Env protocol ---------------------------------------------------------------

    def reset(self, task: Task) -> str:
        self.check_ready()
        self.current_task, self.step_count, self.done = task, 0, False
        gym_id, seed, task_kwargs = self.gym_target(task)
        self.goal, self.observation, self.last_shot = "", "", None
        self.before_reset(task)
        shot = self.shots.path(task.id, 0)
        for attempt in range(self.reset_retries + 1):
            try:
                out = self._call(
                    "reset", gym_id, seed, task_kwargs, shot, timeout_s=self.reset_timeout_s
                )
                break
            except EnvError as e:  # a page that did not load in time, a crashed browser
                if attempt == self.reset_retries:
                    raise
                log.warning("%s; retrying on a fresh browser", e)
                self._kill()
        self.goal = str(out["goal"])
        self.observation = str(out["observation"])
        self.last_stats = dict(out["stats"])
        self.last_shot = out.get("screenshot")
        return self.observation

    def before_reset(self, task: Task) -> None:
        """Hook run before each reset (WebArena: a full site reset when configured)."""

    def episode_goal(self) -> str:
        """The goal of the episode just reset (BrowserGym's `obs["goal"]`; MiniWoB: the
        seed's own utterance): the episode's instruction (`envs.base.episode_task`)."""
        return self.goal

    def visual_observation(self) -> dict[str, Any] | None:
        """For vision models, with `obs` other than `axtree`: the image(s) of the current
        observation (PNG paths) and the text that goes with them (`screenshot` / `som`: the
        observation without its tree; `axtree+som`: all of it). None with `obs=axtree`."""
        if self.obs_mode == "axtree" or not self.last_shot:
            return None
        return {"text": visual_text(self.observation, self.obs_mode), "images": [self.last_shot]}

    def step(self, action: str) -> StepResult:
        if self.current_task is None:
            raise EnvError(f"{self._where(action)}: step before reset")
        if self.done:
            raise EnvError(f"{self._where(action)}: step after the episode ended")
        self.step_count += 1
        before = self.observation
        shot = self.shots.path(self.current_task.id, self.step_count)
        out = self._call(
            "step", self._relocal(action), shot, timeout_s=self.step_timeout_s, action=action
        )
        reward, done = float(out["reward"]), bool(out["terminated"] or out["truncated"])
        truncated = bool(out["truncated"])
        if not done and self.step_limit is not None and self.step_count >= self.step_limit:
            done = truncated = True
        self.observation = str(out["observation"])
        self.last_stats = dict(out["stats"])
        self.done = done
        info: dict[str, Any] = {
            "success": self.success(reward, done, out["task_info"]),
            "score": reward,
            "truncated": truncated,
            "url": out["url"],
            "last_action_error": out["error"],
            "effect": self._effect(action, before, out),
            "t": self.step_count,
            "task_id": self.current_task.id,
            "tree_chars": self.last_stats.get("tree_chars"),
        }
        if self.protocol is not None:
            info["protocol"] = self.protocol.name
        self.last_shot = out.get("screenshot")
        if self.last_shot:  # shown per step by `lbi view`
            info["screenshot"] = self.last_shot
        if "agent_response" in out["task_info"]:  # scored at the end (WebArena-Verified)
            info["eval"] = out["task_info"]
        if "judge" in out["task_info"]:  # WebArena's fuzzy_match judged by an LLM
            info["judge"] = out["task_info"]["judge"]
        if done:  # what the episode ended on, for graders that need no live page
            info["final_state"] = self.final_state(out)
        return StepResult(observation=self.observation, reward=reward, done=done, info=info)

    def final_state(self, out: dict[str, Any]) -> dict[str, Any]:
        """The last step's `info["final_state"]` (`lbi rescore` grades it offline where the
        task's evaluator needs nothing else: WebArena's string_match / url_match): the
        active page's URL, every open tab's URL, and the last chat message -- the agent's
        answer when it is `{"role": "assistant"}` (send_msg_to_user) or `"infeasible"`
        (report_infeasible), as BrowserGym's WebArena tasks read it."""
        chat = out.get("chat") or []
        return {
            "url": out["url"],
            "open_urls": list(out.get("open_urls") or []),
            "last_message": chat[-1] if chat else None,
        }

    def _effect(self, action: str, before: str, out: dict[str, Any]) -> dict[str, Any]:
        """What the action did, for the offline relabeler: verb, target element, text."""
        verb, args = parse_action(action)
        effect: dict[str, Any] = {"verb": verb, "ok": out["error"] is None}
        if args and verb in ("click", "dblclick", "fill", "select_option", "hover", "check"):
            effect["bid"] = args[0]
            effect["element"] = element_line(before, args[0])
            if len(args) > 1:
                effect["text"] = args[1]
        elif verb in ("goto", "send_msg_to_user", "report_infeasible") and args:
            effect["text"] = args[0]
        url_before = next((ln[5:] for ln in before.splitlines() if ln.startswith("URL: ")), "")
        effect["page_changed"] = bool(out["url"]) and out["url"] != url_before
        title = next(
            (ln[7:] for ln in self.observation.splitlines() if ln.startswith("Title: ")), ""
        )
        effect["title"] = title
        return effect

    def valid_actions(self) -> list[str] | None:
        if self.current_task is None or self.done:
            return None
        return list(self._call("valid_actions", timeout_s=self.step_timeout_s))

    def action_space_text(self) -> str:
        """BrowserGym's own description of the high-level actions (with examples), built
        in this process without a browser."""
        if self._action_text is None:
            from browsergym.core.action.highlevel import HighLevelActionSet

            a = self.action_set
            aset = HighLevelActionSet(
                subsets=list(a.subsets), strict=a.strict, multiaction=a.multiaction
            )
            self._action_text = (
                "You act in a web browser. Elements are named by the number in brackets "
                "([12]) in the accessibility tree"
                + (" and on the screenshot" if "som" in self.obs_mode else "")
                + ". Answer with exactly one action call.\n"
                + str(aset.describe(with_long_description=False, with_examples=True))
            )
        return self._action_text

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        return None  # no expert: synthesis explores with `coverage` / `random`

    def close(self) -> None:
        worker, self._worker = self._worker, None
        self._open = False
        self.current_task = None
        if worker is not None:
            worker.close()
        self.shots.close()

    def __enter__(self) -> BrowserGymEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            if self._worker is not None:
                self._worker.kill()
        except Exception:
            pass
