"""ScienceWorld (Wang et al., 2022) as an `Env`: 30 task types of elementary-science
experiments in a text world, with the benchmark's own train/dev/test variation splits.

Why it looks the way it does:
- One JVM per env instance, started lazily (listing tasks or documents needs none) and reused
  across resets; `close()` shuts it down.
- `step` talks to the simulator directly instead of through the package's `step()`, which
  also computes look, inventory and the ~400-entry valid-action list on every call
  (measured 90-180 ms a step against 9-25 ms without the listing); `valid_actions()`
  computes the listing only when called, once per state.
- Reset loads the variation again (the simulator's own reset also reloads, and regenerates
  a gold path every time once any load asked for one). Gold paths are cached on disk.
- The JVM runs with constant identity hashes, so the same task and actions give the same
  text whatever the JVM ran before (see `_DETERMINISTIC_JVM_OPTS`).
- The task table (splits and every variation's task description) ships as
  `scienceworld_tasks.json.gz`, generated from the installed package by
  `python -m lbi_icl.envs.scienceworld build-table`, so `tasks()` needs no JVM. When the
  installed package version differs from the table's, the table is rebuilt from the JVM
  once and cached under `~/.cache/lbi_icl/`.
- Every JVM call runs under a timeout; on a hang the JVM is killed and `EnvError` names the
  task and step, and the next reset starts a fresh JVM.

Observation: the text the simulator returns for the action (for reset: its answer to
"look around"). `include_look` / `include_inventory` append the free look / inventory views.
Score: 0-100 as the benchmark reports it; reward = change in score; success = score 100 with
the task completed; a negative score means the task failed (done).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gzip
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs.base import EnvError, StepResult
from lbi_icl.jsonl import atomic_write_text

logger = logging.getLogger(__name__)

T = TypeVar("T")

ENV_NAME = "scienceworld"
SPLITS = ("train", "dev", "test")
TABLE_PATH = Path(__file__).with_name("scienceworld_tasks.json.gz")
AMBIGUOUS_PREFIX = "Ambiguous request"
NO_MATCH = "No known action matches that input."

# The simulator's action templates (OBJ = an object name as it appears in observations),
# each with a short explanation for prompts and documentation. A test checks this list
# against the one the installed simulator reports.
ACTION_TEMPLATES: dict[str, str] = {
    "open OBJ": "open a container or a door",
    "close OBJ": "close a container or a door",
    "activate OBJ": "turn on a device (stove, sink, lighter, ...)",
    "deactivate OBJ": "turn off a device",
    "connect OBJ to OBJ": "connect two electrical terminals or wires",
    "disconnect OBJ": "remove all connections of an electrical component",
    "use OBJ on OBJ": "use a tool on an object (e.g. a thermometer on a substance)",
    "look around": "describe the current room (a free action)",
    "look at OBJ": "describe an object in detail",
    "look in OBJ": "describe the contents of a container",
    "read OBJ": "read a book, note or recipe",
    "move OBJ to OBJ": "put an object into or onto a container",
    "pick up OBJ": "move an object into the inventory",
    "put down OBJ": "drop an inventory object in the current room",
    "pour OBJ in OBJ": "pour a liquid or the contents of a container into another container",
    "dunk OBJ in OBJ": "dunk a container into a liquid",
    "mix OBJ": "chemically mix the contents of a container",
    "go OBJ": "move to an adjacent room through an open door (e.g. 'go kitchen')",
    "teleport to OBJ": "move directly to a room (only with the teleportAction simplification)",
    "eat OBJ": "eat a food",
    "flush OBJ": "flush a toilet",
    "focus on OBJ": "declare the object the task is about (irreversible: focusing on the "
    "wrong object fails the task)",
    "wait": "let 10 time steps pass",
    "wait1": "let 1 time step pass",
    "task": "repeat the task description",
    "inventory": "list what the agent carries",
    "reset task": "restart the task from the beginning",
}

_ACTION_NOTES = (
    "Write exactly one action per turn as plain text, using object names as they appear in "
    "the observation (e.g. 'open door to kitchen', 'go to kitchen', 'pick up thermometer', "
    "'move metal pot to stove', 'focus on water'). When a name is ambiguous the environment "
    "answers 'Ambiguous request' with a numbered list: reply with the number alone (e.g. "
    "'0'). Time passes only through actions; 'wait' lets 10 steps pass. Focusing on the "
    "wrong object ends the task as a failure."
)

_WORLD_TEXT = (
    "ScienceWorld is a text-based simulation of a house and its surroundings in which an "
    "agent carries out elementary-school science experiments. Rooms: hallway, kitchen, "
    "bathroom, bedroom, living room, art studio, workshop, greenhouse, foundry and outside; "
    "doors between rooms start closed and must be opened before going through. The "
    "simulation models thermodynamics (heating on a stove, blast furnace or with a lighter; "
    "cooling in a fridge or freezer; states of matter change at melting and boiling points), "
    "electrical circuits (batteries, solar panels, wires, light bulbs, motors, buzzers; "
    "conductors and insulators), chemistry (mixing substances and paints in a container), "
    "biology (plants grow from seeds in flower pots with water and soil, need bees to "
    "pollinate; animals go through life stages; Mendelian inheritance of traits), and "
    "friction on inclined planes. Tools: thermometer, stopwatch, measuring cup, containers "
    "(pots, cups, jars, boxes). Scores run from 0 to 100: partial credit is given for "
    "subgoals, 100 means the task is complete, and a negative score means it failed "
    "(usually by focusing on the wrong object)."
)


# --------------------------------------------------------------------------- task table


def _installed_version() -> str | None:
    try:
        from scienceworld import __version__
    except ImportError:
        return None
    return str(__version__)


def _task_catalog() -> dict[str, dict[str, str]]:
    """Package metadata per task name: official id ('1-1'), topic, title."""
    try:
        from scienceworld.constants import TASKS
        from scienceworld.utils import infer_task
    except ImportError:
        return {}
    return {
        infer_task(t["task_name"]): {
            "task_num": t["task_id"],
            "topic": t["topic"],
            "title": t["task"],
        }
        for t in TASKS
    }


def _read_table(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        table = json.load(fh)
    if not isinstance(table, dict) or not isinstance(table.get("tasks"), dict):
        raise EnvError(f"{path}: not a ScienceWorld task table (missing 'tasks')")
    return table


def _write_table(path: Path, table: dict[str, Any]) -> None:
    """Atomic: a crash never leaves a half-written table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(json.dumps(table, sort_keys=True).encode("utf-8"))
        os.chmod(tmp, 0o644)  # a packaged data file, readable by all like the rest
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _user_cache_dir() -> Path:
    from lbi_icl.cache_dir import cache_root

    return cache_root()


def _user_cache_path(version: str) -> Path:
    return _user_cache_dir() / f"scienceworld_tasks-{version}.json.gz"


# --------------------------------------------------------------------------- the JVM

# The simulator keeps objects in identity-hashed sets, so with HotSpot's default identity
# hashes (a per-thread random sequence) listing order depends on everything the JVM did
# before. A constant identity hash makes iteration follow insertion order: the same
# task and actions give the same text in any JVM (measured: no slower on these worlds).
_DETERMINISTIC_JVM_OPTS = "-XX:+UnlockExperimentalVMOptions -XX:hashCode=2"


@contextlib.contextmanager
def _java_options(extra: str) -> Iterator[None]:
    """Add `extra` to JAVA_TOOL_OPTIONS while the package launches its JVM (it offers no
    other way to pass JVM flags), then restore the variable."""
    if not extra:
        yield
        return
    old = os.environ.get("JAVA_TOOL_OPTIONS")
    os.environ["JAVA_TOOL_OPTIONS"] = f"{old} {extra}" if old else extra
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JAVA_TOOL_OPTIONS", None)
        else:
            os.environ["JAVA_TOOL_OPTIONS"] = old


# --------------------------------------------------------------------------- the env


class ScienceWorldEnv:
    """The `Env` for ScienceWorld. Task ids are `<task-name>/<variation>`, e.g. `boil/3`."""

    name = ENV_NAME
    # per Ray worker (`--executor ray`): the JVM simulator takes a core and ~1 GiB
    worker_resources: ClassVar[dict[str, Any]] = {"num_cpus": 1, "memory": 1.5 * 2**30}

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
        self._episode_limit = self.step_limit  # demonstrate() lifts it to its max_steps
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
        self._gold_cache: dict[tuple[str, int, str], list[str]] = {}
        if gold_cache is True:
            self._gold_dir: Path | None = (
                _user_cache_dir() / f"scienceworld_gold-{_installed_version()}"
            )
        elif gold_cache is False:
            self._gold_dir = None
        else:
            self._gold_dir = Path(gold_cache)
        self._task: Task | None = None
        self._step_no = 0
        self._last_score = 0
        self._valid_cache: list[str] | None = None
        # Counters, so callers and tests can see what was computed and what it cost.
        self.valid_action_calls = 0
        self.jvm_starts = 0
        self.gold_generations = 0
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

    def _gold_path_file(self, task_name: str, var: int) -> Path | None:
        if self._gold_dir is None:
            return None
        simpl = self.simplifications.replace(",", "+") or "none"
        return self._gold_dir / f"{task_name}__{var}__{simpl}.json"

    def gold_actions(self, task: Task) -> list[str]:
        """The simulator's gold action sequence for `task`.

        Generating one plays the task through inside the JVM (up to ~40 s for mendelian
        genetics), and the result depends on what that JVM ran before (the gold agent
        explores containers in an order that varies), so sequences are cached in memory
        and in `gold_cache` (one small JSON file per task): reruns and resumed runs then
        replay the same path."""
        task_name, var = self._parse_id(task.id)
        key = (task_name, var, self.simplifications)
        if key in self._gold_cache:
            return list(self._gold_cache[key])
        path = self._gold_path_file(task_name, var)
        if path is not None and path.exists():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                gold = record["actions"]
                if not isinstance(gold, list) or not all(isinstance(a, str) for a in gold):
                    raise ValueError("'actions' is not a list of strings")
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise EnvError(f"{path}: bad gold-path cache file ({err}); delete it") from err
            self._gold_cache[key] = gold
            return list(gold)
        sw = self._ensure_jvm()
        self._task = task
        self._call(
            lambda: sw.server.load(task_name, var, self.simplifications, True),
            self.load_timeout_s,
            "load with gold path",
        )
        # the generation leaves the world in its final state: _start() reloads it
        gold = [str(a) for a in self._call(sw.server.getGoldActionSequence, 60, "gold path")]
        self.gold_generations += 1
        self._gold_cache[key] = gold
        if path is not None and gold and not gold[0].startswith("ERROR"):
            record = {"task_id": f"{task_name}/{var}", "simplifications": self.simplifications}
            record |= {"scienceworld_version": _installed_version(), "actions": gold}
            atomic_write_text(path, json.dumps(record, indent=0) + "\n")
        return list(gold)

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

    def reset(self, task: Task) -> str:
        """Load a fresh world for `task` (reusing the JVM) and return the simulator's
        'look around' text."""
        self._episode_limit = self.step_limit
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
        lines = ["Actions (OBJ is an object name from the observation):"]
        lines += [f"- {tpl}: {desc}" for tpl, desc in ACTION_TEMPLATES.items()]
        return "\n".join([*lines, "", _ACTION_NOTES])

    def documents(self) -> list[Document]:
        """The world overview, the action templates, and one document per task type with
        its official title and (train-split only, so no test leakage) example task
        descriptions."""
        docs = [
            Document(
                id="scienceworld/world",
                env=ENV_NAME,
                title="ScienceWorld: the world",
                text=_WORLD_TEXT,
                source={"kind": "overview"},
            ),
            Document(
                id="scienceworld/actions",
                env=ENV_NAME,
                title="ScienceWorld: actions",
                text=self.action_space_text(),
                source={"kind": "action_templates"},
            ),
        ]
        table = self._load_table()["tasks"]
        catalog = _task_catalog()
        for task_name in self.task_types():
            entry = table[task_name]
            meta = catalog.get(task_name, {})
            examples = list(dict.fromkeys(entry["descriptions"][v] for v in entry["train"]))
            title = meta.get("title", task_name)
            topic = meta.get("topic", "")
            text = (
                f"Task type '{task_name}' ({topic}: {title}), {entry['max_variations']} "
                f"variations. Example task descriptions:\n"
                + "\n".join(f"- {d}" for d in examples[:3])
            )
            docs.append(
                Document(
                    id=f"scienceworld/task/{task_name}",
                    env=ENV_NAME,
                    title=f"ScienceWorld task: {title}",
                    text=text,
                    source={"kind": "task_description", "task_type": task_name, **meta},
                )
            )
        return docs

    # ------------------------------------------------------------------ expert

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        """Replay the simulator's gold action sequence; outcome comes from the real final
        score (success only at 100). None when the simulator has no gold path."""
        # the expert is bounded by max_steps, not by the agents' episode limit
        self._episode_limit = max(self.step_limit, max_steps)
        gold = self.gold_actions(task)
        if not gold or gold[0].startswith("ERROR"):
            logger.warning("scienceworld %s: no gold path (%s)", task.id, gold[:1])
            return None
        first = self._start(task)
        steps: list[Step] = []
        obs = first
        score = 0
        result: StepResult | None = None
        for action in gold[:max_steps]:
            result = self.step(action)
            steps.append(
                Step(
                    observation=obs,
                    action=action,
                    reward=result.reward,
                    info={"score": result.info["score"]},
                )
            )
            obs = result.observation
            score = int(result.info["score"])
            if result.done:
                break
        success = result is not None and bool(result.info["success"])
        task_name, var = self._parse_id(task.id)
        return Trajectory(
            id=f"{ENV_NAME}/expert/{task_name}/{var}",
            env=ENV_NAME,
            instruction=task.instruction,
            steps=steps,
            final_observation=obs,
            outcome="success" if success else "failure",
            source={"kind": "expert", "task_id": task.id, "writer": "scienceworld-gold-path"},
            split=task.split,
            metadata={
                "task_id": task.id,
                "task_type": task_name,
                "variation": var,
                "final_score": score,
                "gold_length": len(gold),
                "truncated": len(gold) > max_steps,
            },
        )


def benchmark(task_ids: list[str], repeats: int = 3) -> list[dict[str, Any]]:
    """Measure what ScienceWorld costs here: JVM start, load with and without the gold
    path, and the mean cost of one step of the gold path three ways (this env's step; its
    step plus `valid_actions()`; the package's own `step`, which always lists actions)."""
    env = ScienceWorldEnv(step_limit=10_000, gold_cache=False)
    rows: list[dict[str, Any]] = []
    try:
        start = time.perf_counter()
        env._ensure_jvm()
        rows.append({"what": "jvm start", "seconds": time.perf_counter() - start})
        for task_id in task_ids:
            task = env.task(task_id)
            env.reset(task)
            load_s = env.last_load_s or 0.0
            start = time.perf_counter()
            gold = env.gold_actions(task)
            gold_s = time.perf_counter() - start
            per_step: dict[str, float] = {}
            for _ in range(repeats):  # best of `repeats`: shared machines are noisy
                for mode in ("step", "step+valid_actions", "package step"):
                    env.reset(task)
                    start = time.perf_counter()
                    for action in gold:
                        if mode == "package step":
                            env._sw.step(action)
                            continue
                        env.step(action)
                        if mode == "step+valid_actions":
                            env.valid_actions()
                    took = (time.perf_counter() - start) / max(len(gold), 1)
                    per_step[mode] = min(per_step.get(mode, took), took)
            rows.append(
                {
                    "what": task_id,
                    "load_s": load_s,
                    "load_gold_s": gold_s,
                    "gold_steps": len(gold),
                    **{f"{k}_ms": 1000 * v for k, v in per_step.items()},
                }
            )
    finally:
        env.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    """`python -m lbi_icl.envs.scienceworld build-table [OUT]` regenerates the task table;
    `... bench [TASK_ID ...]` measures load and step costs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lbi_icl.envs.scienceworld")
    sub = parser.add_subparsers(dest="cmd", required=True)
    build = sub.add_parser("build-table", help="regenerate the packaged task table")
    build.add_argument("out", nargs="?", default=str(TABLE_PATH))
    bench = sub.add_parser("bench", help="measure JVM start, load and per-step costs")
    bench.add_argument("task_ids", nargs="*", default=["find-plant/0", "power-component/0"])
    bench.add_argument("--repeats", type=int, default=3, help="best of N replays per mode")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.cmd == "bench":
        from rich.console import Console
        from rich.table import Table

        rows = benchmark(args.task_ids, repeats=args.repeats)
        table = Table(title="ScienceWorld costs")
        cols = list(dict.fromkeys(k for r in rows for k in r))
        for col in cols:
            table.add_column(col)
        for r in rows:
            table.add_row(
                *(f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols)
            )
        Console(width=200).print(table)
        return 0
    with ScienceWorldEnv() as env:
        env.build_table(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
