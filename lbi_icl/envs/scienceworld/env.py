"""`ScienceWorldEnv`: one lazily started JVM per env, reused across resets, stepped directly
so a step costs ms; every JVM call under a timeout (see the package docstring for why)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from lbi_icl.data import Document, Task, Trajectory
from lbi_icl.envs.base import EnvError, StepResult
from lbi_icl.envs.scienceworld import expert, text
from lbi_icl.envs.scienceworld.gold import GoldPaths
from lbi_icl.envs.scienceworld.jvm import _DETERMINISTIC_JVM_OPTS, _java_options
from lbi_icl.envs.scienceworld.table import (
    ENV_NAME,
    SPLITS,
    TABLE_PATH,
    _installed_version,
    _read_table,
    _task_catalog,
    _user_cache_dir,
    _user_cache_path,
    _write_table,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ScienceWorldEnv:
    """The `Env` for ScienceWorld. Task ids are `<task-name>/<variation>`, e.g. `boil/3`."""

    name = ENV_NAME
    # per Ray worker (`--executor ray`): the JVM simulator takes a core and ~1 GiB
    worker_resources: ClassVar[dict[str, Any]] = {"num_cpus": 1, "memory": 1.5 * 2**30}
    # why `lbi rescore` cannot score a ScienceWorld episode from its log (envs.base)
    no_offline_score = (
        "the score comes from the simulator's task state inside the JVM (the goal sequence "
        "it tracks), which the step log does not hold; only a replay could recompute it"
    )

    def __init__(
        self,
        *,
        simplifications: str = "",
        step_limit: int = 100,
        task_types: list[str] | str | None = None,
        include_look: bool = False,
        include_inventory: bool = False,
        load_timeout_s: float = 180.0,
        step_timeout_s: float = 30.0,
        table_path: str | Path | None = None,
        gold_cache: str | Path | bool = True,
        deterministic: bool = True,
    ) -> None:
        """`simplifications`: the package's comma-separated list ('easy', 'openDoors', ...).
        `step_limit`: episode ends (done, not success) after this many moves.
        `task_types`: restrict `tasks()` to these task names (default: all 30).
        `gold_cache`: directory for generated gold paths (True: ~/.cache/lbi_icl/...;
        False: memory only).
        `deterministic`: start the JVM with constant identity hash codes, so the order in
        which observations list objects, and the gold agent's path, do not depend on what
        the JVM ran before (otherwise the same actions can give differently ordered text)."""
        if isinstance(task_types, str):
            task_types = [t for t in task_types.split(",") if t]
        self.simplifications = simplifications
        self.step_limit = int(step_limit)
        self._episode_limit = self.step_limit  # reset(max_steps=) lifts it (the expert)
        self.include_look = include_look
        self.deterministic = deterministic
        self.include_inventory = include_inventory
        self.load_timeout_s = float(load_timeout_s)
        self.step_timeout_s = float(step_timeout_s)
        self._table_path = Path(table_path) if table_path is not None else None
        self._table: dict[str, Any] | None = None
        self._catalog: dict[str, dict[str, str]] | None = None
        self._task_types = list(task_types) if task_types else None
        self._sw: Any = None  # scienceworld.ScienceWorldEnv, started lazily
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        if gold_cache is True:
            gold_dir: Path | None = _user_cache_dir() / f"scienceworld_gold-{_installed_version()}"
        else:
            gold_dir = None if gold_cache is False else Path(gold_cache)
        self._gold = GoldPaths(gold_dir)
        self._task: Task | None = None
        self._step_no = 0
        self._last_score = 0
        self._valid_cache: list[str] | None = None
        # Counters, so callers and tests can see what was computed and what it cost.
        self.valid_action_calls = 0
        self.jvm_starts = 0
        self.last_load_s: float | None = None

    # ------------------------------------------------------------------ JVM plumbing

    @property
    def jvm_running(self) -> bool:
        proc = self._java_process()
        return proc is not None and proc.poll() is None

    def _java_process(self) -> Any:
        gateway = getattr(self._sw, "_gateway", None)
        return getattr(gateway, "java_process", None)

    def _ensure_jvm(self) -> Any:
        if self._sw is not None and self.jvm_running:
            return self._sw
        if self._sw is not None:  # died under us: clean up before starting again
            self._shutdown_jvm()
        try:
            from scienceworld import ScienceWorldEnv as _SW
        except ImportError as err:
            raise EnvError(
                "scienceworld is not installed: pip install 'lbi_icl[scienceworld]' "
                "(needs Java 17 on PATH)"
            ) from err
        start = time.perf_counter()
        try:
            with _java_options(_DETERMINISTIC_JVM_OPTS if self.deterministic else ""):
                self._sw = _SW("", envStepLimit=self.step_limit)
        except Exception as err:  # py4j raises plain exceptions when java is missing
            raise EnvError(
                f"scienceworld: could not start the JVM (is Java 17 on PATH?): {err}"
            ) from err
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="scienceworld"
        )
        self.jvm_starts += 1
        logger.info("scienceworld JVM started in %.1fs", time.perf_counter() - start)
        return self._sw

    def _call(self, fn: Callable[[], T], timeout_s: float, what: str) -> T:
        """Run one JVM call under a timeout; a hang or crash kills the JVM and raises
        `EnvError` naming the task, the step and the call. Never starts a JVM: one that
        died mid-episode is reported, and the next reset starts a new one."""
        where = f"scienceworld task {self._task.id if self._task else '?'} step {self._step_no}"
        if self._executor is None or not self.jvm_running:
            raise EnvError(f"{where}: {what}: the JVM is not running (closed or crashed); reset")
        future = self._executor.submit(fn)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            self._kill_jvm()
            raise EnvError(f"{where}: {what} timed out after {timeout_s:.0f}s") from None
        except EnvError:
            raise
        except Exception as err:
            if not self.jvm_running:
                self._shutdown_jvm()
            raise EnvError(f"{where}: {what} failed: {type(err).__name__}: {err}") from err

    def _kill_jvm(self) -> None:
        proc = self._java_process()
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        self._shutdown_jvm()

    def _shutdown_jvm(self) -> None:
        sw, self._sw = self._sw, None
        executor, self._executor = self._executor, None
        if sw is None:
            return
        proc = getattr(getattr(sw, "_gateway", None), "java_process", None)
        with contextlib.suppress(Exception):
            sw.close()
        # The package closes again from __del__; make that a no-op.
        with contextlib.suppress(Exception):
            sw.close = lambda: None
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except Exception:
                with contextlib.suppress(Exception):
                    proc.kill()
                    proc.wait(timeout=10)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Shut the JVM down (idempotent); a later reset starts a new one."""
        with self._lock:
            self._shutdown_jvm()

    def __enter__(self) -> ScienceWorldEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._shutdown_jvm()

    # ------------------------------------------------------------------ task table

    def _load_table(self) -> dict[str, Any]:
        if self._table is not None:
            return self._table
        version = _installed_version()
        if self._table_path is not None:
            self._table = _read_table(self._table_path)
            return self._table
        candidates = [TABLE_PATH]
        if version is not None:
            candidates.append(_user_cache_path(version))
        for path in candidates:
            if path.exists():
                table = _read_table(path)
                if version is None or table.get("scienceworld_version") == version:
                    self._table = table
                    return table
        if version is None:
            raise EnvError(
                "scienceworld is not installed and no task table matches: "
                "pip install 'lbi_icl[scienceworld]'"
            )
        cache = _user_cache_path(version)
        logger.warning(
            "scienceworld %s differs from the packaged task table; building %s from the JVM "
            "(one-time, several minutes)",
            version,
            cache,
        )
        self._table = self.build_table(cache)
        return self._table

    def build_table(self, out: str | Path) -> dict[str, Any]:
        """Query the simulator for every task type's splits and every variation's task
        description, write them to `out` (gzipped JSON) and return the table."""
        sw = self._ensure_jvm()
        tasks: dict[str, Any] = {}
        for task_name in self._call(sw.get_task_names, self.step_timeout_s, "get_task_names"):
            n_var = int(self._call(lambda t=task_name: sw.get_max_variations(t), 60, "max_var"))
            descriptions = []
            for var in range(n_var):
                self._call(
                    lambda t=task_name, v=var: sw.server.load(t, v, "", False),
                    self.load_timeout_s,
                    f"load {task_name}/{var}",
                )
                descriptions.append(str(self._call(sw.get_task_description, 60, "task desc")))
            tasks[task_name] = {
                "max_variations": n_var,
                "train": [int(v) for v in self._call(sw.get_variations_train, 60, "train")],
                "dev": [int(v) for v in self._call(sw.get_variations_dev, 60, "dev")],
                "test": [int(v) for v in self._call(sw.get_variations_test, 60, "test")],
                "descriptions": descriptions,
            }
            logger.info("scienceworld table: %s (%d variations)", task_name, n_var)
        table = {"scienceworld_version": _installed_version(), "tasks": tasks}
        _write_table(Path(out), table)
        return table

    def task_types(self) -> list[str]:
        """The task names `tasks()` covers, in the simulator's order."""
        names = list(self._load_table()["tasks"])
        if self._task_types is None:
            return names
        unknown = sorted(set(self._task_types) - set(names))
        if unknown:
            raise EnvError(f"scienceworld: unknown task types {unknown}; known: {names}")
        return [n for n in names if n in self._task_types]

    def tasks(self, split: str, limit: int | None = None) -> list[Task]:
        """Every variation of every task type in the benchmark's `split`, interleaved by
        task type (the first variation of each type, then the second of each, ...) so that
        the first N tasks cover as many types as possible. Stable; no JVM needed."""
        if split not in SPLITS:
            raise EnvError(f"scienceworld: unknown split {split!r}; expected one of {SPLITS}")
        table = self._load_table()["tasks"]
        names = self.task_types()
        longest = max((len(table[n][split]) for n in names), default=0)
        out: list[Task] = []
        for rank in range(longest):
            for task_name in names:
                variations = table[task_name][split]
                if rank < len(variations):
                    out.append(self._make_task(task_name, int(variations[rank]), split))
                    if limit is not None and len(out) >= limit:
                        return out
        return out

    def _make_task(self, task_name: str, var: int, split: str | None) -> Task:
        entry = self._load_table()["tasks"][task_name]
        if self._catalog is None:
            self._catalog = _task_catalog()
        return Task(
            id=f"{task_name}/{var}",
            env=ENV_NAME,
            instruction=entry["descriptions"][var],
            split=split,
            metadata={
                "task_id": f"{task_name}/{var}",
                "task_type": task_name,
                "variation": var,
                **self._catalog.get(task_name, {}),
            },
        )

    def task(self, task_id: str) -> Task:
        """The `Task` for an id like `boil/3` (whichever split holds it)."""
        task_name, var = self._parse_id(task_id)
        entry = self._load_table()["tasks"][task_name]
        return self._make_task(task_name, var, next((s for s in SPLITS if var in entry[s]), None))

    def _parse_id(self, task_id: str) -> tuple[str, int]:
        name, sep, var_text = task_id.rpartition("/")
        if not sep or not name or not var_text.isdigit():
            raise EnvError(
                f"scienceworld: bad task id {task_id!r}; expected '<task-name>/<variation>', "
                "e.g. 'boil/3'"
            )
        with contextlib.suppress(ImportError):
            from scienceworld.utils import infer_task

            name = infer_task(name)
        table = self._load_table()["tasks"]
        if name not in table:
            raise EnvError(f"scienceworld: unknown task type {name!r} in task id {task_id!r}")
        var = int(var_text)
        if var >= int(table[name]["max_variations"]):
            raise EnvError(
                f"scienceworld: task {task_id!r}: variation {var} out of range "
                f"(0..{int(table[name]['max_variations']) - 1})"
            )
        return name, var

    # ------------------------------------------------------------------ episode

    def _load(self, task_name: str, var: int) -> None:
        """A fresh world for the variation. Loading is also how we reset: the simulator's
        own reset() reloads too, and regenerates a gold path (seconds to a minute) once any
        load in the JVM asked for one."""
        sw = self._ensure_jvm()
        start = time.perf_counter()
        self._call(
            lambda: sw.server.load(task_name, var, self.simplifications, False),
            self.load_timeout_s,
            "load",
        )
        # keep the package wrapper's view in sync (its step()/look() read these)
        sw.taskName, sw.variationIdx, sw.simplificationStr = task_name, var, self.simplifications
        sw.lastStepScore = 0
        self.last_load_s = time.perf_counter() - start
        logger.debug("scienceworld loaded %s/%d in %.2fs", task_name, var, self.last_load_s)

    @property
    def gold_generations(self) -> int:
        """Gold paths generated in the JVM so far (not read back from the cache)."""
        return self._gold.generations

    def gold_path_file(self, task: Task) -> Path | None:
        """Where `task`'s gold path is cached on disk (None: memory only)."""
        task_name, var = self._parse_id(task.id)
        return self._gold.file_for(task_name, var, self.simplifications)

    def gold_actions(self, task: Task) -> list[str]:
        """The simulator's gold action sequence for `task` (cached: gold.py)."""
        task_name, var = self._parse_id(task.id)

        def generate() -> list[str]:
            sw = self._ensure_jvm()
            self._task = task
            self._call(
                lambda: sw.server.load(task_name, var, self.simplifications, True),
                self.load_timeout_s,
                "load with gold path",
            )
            # the generation leaves the world in its final state: _start() reloads it
            return list(self._call(sw.server.getGoldActionSequence, 60, "gold path"))

        return self._gold.get(task_name, var, self.simplifications, generate)

    def _start(self, task: Task) -> str:
        task_name, var = self._parse_id(task.id)
        self._task = task
        self._step_no = 0
        self._load(task_name, var)
        sw = self._sw
        self._last_score = 0
        self._valid_cache = None
        obs = str(self._call(lambda: sw.server.step("look around"), self.step_timeout_s, "look"))
        return self._decorate(obs)

    def reset(self, task: Task, *, max_steps: int | None = None) -> str:
        """Load a fresh world for `task` (reusing the JVM) and return the simulator's
        'look around' text. `max_steps`: a longer episode than `step_limit` (the expert
        replays whole gold paths)."""
        self._episode_limit = max(self.step_limit, max_steps or 0)
        return self._start(task)

    def _decorate(self, obs: str) -> str:
        parts = [obs.strip()]
        if self.include_look:
            parts.append(str(self._call(self._sw.look, self.step_timeout_s, "look")).strip())
        if self.include_inventory:
            inv = self._call(self._sw.inventory, self.step_timeout_s, "inventory")
            parts.append(str(inv).strip())
        return "\n\n".join(p for p in parts if p)

    def step(self, action: str) -> StepResult:
        if self._task is None or self._sw is None:
            raise EnvError("scienceworld: step() before reset()")
        sw = self._sw
        self._step_no += 1
        action = action.strip()

        def _do() -> tuple[str, float, bool, int]:
            obs = sw.server.step(action)
            return obs, sw.server.getScore(), sw.server.getCompleted(), sw.server.getNumMoves()

        obs, raw_score, completed, moves = self._call(_do, self.step_timeout_s, f"{action!r}")
        self._valid_cache = None
        score = round(100 * float(raw_score))
        reward = float(score - self._last_score)
        self._last_score = score
        failed = score < 0
        success = bool(completed) and score >= 100
        truncated = int(moves) > self._episode_limit
        done = bool(completed) or failed or truncated
        return StepResult(
            observation=self._decorate(str(obs)),
            reward=reward,
            done=done,
            info={
                "score": score,
                "success": success,
                "failed": failed,
                "truncated": truncated and not (bool(completed) or failed),
                "moves": int(moves),
            },
        )

    def valid_actions(self) -> list[str] | None:
        """The simulator's valid action-object combinations in the current state (≈400;
        the expensive part of a step, so computed only here, once per state)."""
        if self._task is None or self._sw is None:
            raise EnvError("scienceworld: valid_actions() before reset()")
        if self._valid_cache is None:
            sw = self._sw
            listing = self._call(
                sw.server.getValidActionObjectCombinations, self.step_timeout_s, "valid actions"
            )
            self.valid_action_calls += 1
            self._valid_cache = list(dict.fromkeys(str(a) for a in listing))
        return list(self._valid_cache)

    def look(self) -> str:
        """The free 'look around' view of the current room (costs no simulated time)."""
        return str(self._call(self._sw.look, self.step_timeout_s, "look"))

    def inventory(self) -> str:
        """The free inventory view (costs no simulated time)."""
        return str(self._call(self._sw.inventory, self.step_timeout_s, "inventory"))

    # ------------------------------------------------------------------ text for prompts

    def action_space_text(self) -> str:
        return text.action_space_text()

    def documents(self) -> list[Document]:
        """The world overview, the action templates, and one document per task type with
        its official title and (train-split only, so no test leakage) example task
        descriptions."""
        return text.documents(self._load_table()["tasks"], self.task_types())

    # ------------------------------------------------------------------ expert

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        """Replay the simulator's gold action sequence; outcome comes from the real final
        score (success only at 100). None when the simulator has no gold path."""
        return expert.demonstrate(self, task, max_steps=max_steps)
