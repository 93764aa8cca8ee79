"""Crash and hang protection for environments and experts.

An environment that crashes or hangs must not take a run with it. Two tools:

- `SubprocessWorker` runs picklable functions in a persistent child process with a
  wall-time limit (and optionally a memory limit). On a timeout the child is killed and a
  fresh one starts on the next call. This is the only way to stop pure-Python code that
  loops forever (BabyAIBot on some seeds) and to get its memory back.
- `GuardedEnv` wraps any `Env` so that `reset`/`step`/... time out and every failure
  becomes an `EnvError` naming the environment, task and step. Two modes:
  * ``"process"`` (default for `guard_env`): the environment lives in a child process built
    by a picklable factory; a hang kills the child, the next `reset` builds a new one.
    Costs one pickle round trip per call (~0.1 ms) — negligible next to an LLM call.
  * ``"thread"``: the environment stays in this process and calls run on a daemon worker
    thread. A hung call cannot be stopped (Python cannot kill threads), so the wrapper
    raises `EnvError`, abandons that thread and, if it was given a factory, builds a new
    environment on the next `reset`. Use it for environments that cannot be pickled or
    forked (e.g. ones holding a browser or a socket).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from lbi_icl.data import Document, Task, Trajectory
from lbi_icl.envs.base import Env, EnvError, StepResult

log = logging.getLogger(__name__)
# env methods that set an env up for the run (the runner's `bind_run`: the run folder, the
# run's LLM): a guard that rebuilds the env after a hang or crash calls them again, so the
# fresh env is set up like the one it replaces
REPLAYED = frozenset({"bind_run"})


class EnvWallTime(EnvError):
    """A call was stopped at the episode's wall-time limit (`deadline`), not at its own
    timeout: the episode ends with stop reason `wall_time`, not as an error."""


class WorkerTimeout(TimeoutError):
    """The call ran past its wall-time limit; the worker was killed."""


class WorkerCrashed(RuntimeError):
    """The worker process died (killed for memory, segfault, ...)."""


class RemoteError(RuntimeError):
    """The function raised in the worker; `remote_type` and `remote_traceback` say what."""

    def __init__(self, remote_type: str, message: str, remote_traceback: str):
        super().__init__(f"{remote_type}: {message}")
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback


def _limit_memory(limit_mb: int) -> None:
    """Cap the child's address space at (current size + limit_mb) so a runaway allocation
    raises MemoryError in the child instead of swapping the machine."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[0])
        current = pages * os.sysconf("SC_PAGE_SIZE")
        cap = current + limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (OSError, ValueError, ImportError):  # not Linux: time limit only
        pass


def _worker_main(conn: Any, parent_end: Any, memory_limit_mb: int | None) -> None:
    # A forked child inherits the parent's end of the pipe; close it, or the child never
    # sees EOF (and never exits) when the parent dies.
    with contextlib.suppress(Exception):
        parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    if memory_limit_mb:
        _limit_memory(memory_limit_mb)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args, kwargs = msg
        try:
            result = fn(*args, **kwargs)
            conn.send(("ok", result))
        except BaseException as e:
            try:
                conn.send(("err", (type(e).__name__, str(e), traceback.format_exc())))
            except Exception:
                return


def _default_start_method() -> str:
    # fork: starts in milliseconds and never re-imports the caller's __main__ (spawn and
    # forkserver do, which breaks scripts and notebooks without a `__main__` guard). The
    # worker only runs our own code, so fork's caveat with threads in the parent (locks
    # held at fork time) does not reach anything the worker touches.
    methods = mp.get_all_start_methods()
    return "fork" if "fork" in methods else "spawn"


class SubprocessWorker:
    """A persistent child process that runs picklable functions with a wall-time limit.

    Functions must be importable module-level callables (or partials of them); arguments
    and results travel by pickle between this process and its own child only.
    """

    def __init__(
        self,
        *,
        memory_limit_mb: int | None = None,
        start_method: str | None = None,
        preload: tuple[str, ...] = (),
        name: str = "lbi-worker",
    ):
        self.memory_limit_mb = memory_limit_mb
        self._ctx = mp.get_context(start_method or _default_start_method())
        if preload and self._ctx.get_start_method() == "forkserver":
            with contextlib.suppress(Exception):
                self._ctx.set_forkserver_preload(list(preload))  # type: ignore[attr-defined]
        self._name = name
        self._proc: Any = None
        self._conn: Any = None
        self._started = False
        self.restarts = 0  # fresh workers started after a kill or crash

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child, parent, self.memory_limit_mb),
            name=self._name,
            daemon=True,
        )
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def call(self, fn: Callable[..., Any], *args: Any, timeout_s: float, **kwargs: Any) -> Any:
        if not self.alive:
            if self._started:
                self.restarts += 1
            self._start()
            self._started = True
        assert self._conn is not None
        try:
            self._conn.send((fn, args, kwargs))
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise WorkerCrashed(f"worker died before the call: {e}") from e
        if not self._conn.poll(timeout_s):
            self.kill()
            raise WorkerTimeout(f"no answer within {timeout_s:g}s; worker killed")
        try:
            status, payload = self._conn.recv()
        except (EOFError, OSError) as e:
            code = self._proc.exitcode if self._proc is not None else None
            self.kill()
            raise WorkerCrashed(f"worker died during the call (exit code {code})") from e
        if status == "ok":
            return payload
        remote_type, message, tb = payload
        if remote_type == "MemoryError":
            self.kill()  # its heap may be fragmented past the cap; start clean
        raise RemoteError(remote_type, message, tb)

    def kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(timeout=5)

    def close(self) -> None:
        if self._conn is not None and self.alive:
            with contextlib.suppress(Exception):
                self._conn.send(None)
            self._proc.join(timeout=2)
        self.kill()

    def __enter__(self) -> SubprocessWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- process mode: the environment lives in the worker -------------------------------

_CHILD_ENV: Any = None


def _child_init(factory: Callable[[], Env]) -> str:
    global _CHILD_ENV
    if _CHILD_ENV is not None:
        with contextlib.suppress(Exception):
            _CHILD_ENV.close()
    _CHILD_ENV = factory()
    return str(getattr(_CHILD_ENV, "name", "env"))


def _child_call(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if _CHILD_ENV is None:
        raise RuntimeError("environment not initialised in worker")
    if method == "__lbi_callable__":
        return callable(getattr(_CHILD_ENV, args[0]))
    if method == "__lbi_getattr__":
        return getattr(_CHILD_ENV, args[0])
    return getattr(_CHILD_ENV, method)(*args, **kwargs)


# --- thread mode: calls run on a daemon thread ---------------------------------------


class _ThreadRunner:
    """One daemon thread that runs calls in order; abandoned (not joined) after a hang."""

    def __init__(self, name: str):
        self._q: queue.Queue[Any] = queue.Queue()
        self._t = threading.Thread(target=self._loop, name=name, daemon=True)
        self._t.start()

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, box, done = item
            try:
                box.append(("ok", fn()))
            except BaseException as e:
                box.append(("err", e))
            done.set()

    def call(self, fn: Callable[[], Any], timeout_s: float) -> Any:
        box: list[tuple[str, Any]] = []
        done = threading.Event()
        self._q.put((fn, box, done))
        if not done.wait(timeout_s):
            raise WorkerTimeout(f"no answer within {timeout_s:g}s; thread abandoned")
        status, value = box[0]
        if status == "err":
            raise value
        return value

    def stop(self) -> None:
        self._q.put(None)


GuardMode = Literal["process", "thread"]


class GuardedEnv:
    """An `Env` whose calls time out and whose failures name the task and step.

    `env` is an environment instance (thread mode only) or a zero-argument factory (picklable
    for process mode, e.g. ``functools.partial(make_env, "babyai")``).
    """

    def __init__(
        self,
        env: Env | Callable[[], Env],
        *,
        mode: GuardMode = "process",
        name: str | None = None,
        reset_timeout_s: float = 120.0,
        step_timeout_s: float = 60.0,
        call_timeout_s: float = 300.0,
        memory_limit_mb: int | None = None,
        rebuild: Callable[[], Env] | None = None,
    ):
        """`rebuild` (thread mode, with an instance): how to make a fresh environment after
        a hang abandoned the given one."""
        if mode not in ("process", "thread"):
            raise ValueError(f"mode must be 'process' or 'thread', got {mode!r}")
        is_instance = isinstance(env, Env)
        if mode == "process" and is_instance:
            raise ValueError("process mode needs a picklable factory, not an env instance")
        self.mode = mode
        self._factory: Callable[[], Env] | None = rebuild if is_instance else env  # type: ignore[assignment]
        self._env: Env | None = env if is_instance else None  # type: ignore[assignment]
        self.name = name or (getattr(env, "name", None) if is_instance else None) or "env"
        self.reset_timeout_s = reset_timeout_s
        self.step_timeout_s = step_timeout_s
        self.call_timeout_s = call_timeout_s
        self._worker: SubprocessWorker | None = None
        self._runner: _ThreadRunner | None = None
        self._memory_limit_mb = memory_limit_mb
        self._ready = False  # a live env exists (process: in the worker)
        self._broken: str | None = None
        self.task_id: str | None = None
        self.step_count = 0
        # monotonic time at which reset/step calls stop (the agent loop sets the episode's
        # max_wall_s here): a step cannot outlive the episode's wall-time limit
        self.deadline: float | None = None
        # calls that set the env up for the run (`REPLAYED`), made again on a rebuilt env
        self._setup_calls: list[tuple[str, tuple[Any, ...]]] = []

    # -- plumbing ---------------------------------------------------------------------

    def _where(self, action: str | None = None) -> str:
        task = f"task {self.task_id!r}" if self.task_id else "no task"
        act = f" ({action!r})" if action is not None else ""
        return f"{self.name}: {task}, step {self.step_count}{act}"

    def _ensure(self, what: str) -> None:
        if self._ready:
            return
        if self._factory is None and self._broken:
            raise EnvError(f"{self._where()}: unusable after an earlier failure: {self._broken}")
        if self.mode == "process":
            if self._worker is None:
                self._worker = SubprocessWorker(
                    memory_limit_mb=self._memory_limit_mb, name=f"lbi-env-{self.name}"
                )
            try:
                self.name = self._worker.call(
                    _child_init, self._factory, timeout_s=self.reset_timeout_s
                )
            except (WorkerTimeout, WorkerCrashed, RemoteError) as e:
                raise EnvError(f"{self._where()}: could not start the environment: {e}") from e
        else:
            if self._env is None:
                assert self._factory is not None
                self._env = self._factory()
                self.name = getattr(self._env, "name", self.name)
            self._runner = _ThreadRunner(f"lbi-env-{self.name}")
        self._ready = True
        self._broken = None
        for method, args in self._setup_calls:  # a rebuilt env gets the run's set-up again
            self._call(method, *args, timeout_s=self.call_timeout_s)

    def _invalidate(self, reason: str) -> None:
        self._ready = False
        self._broken = reason
        if self.mode == "process":
            if self._worker is not None:
                self._worker.kill()
        else:
            if self._runner is not None:
                self._runner.stop()
            self._runner = None
            if self._factory is not None:
                self._env = None  # a fresh one on the next reset

    def _call(
        self, method: str, *args: Any, timeout_s: float, action: str | None = None, **kw: Any
    ) -> Any:
        self._ensure(method)
        at_wall = False
        if self.deadline is not None and method in ("reset", "step"):
            left = self.deadline - time.monotonic()
            if left < timeout_s:
                timeout_s, at_wall = max(0.05, left), True
        try:
            if self.mode == "process":
                assert self._worker is not None
                return self._worker.call(_child_call, method, args, kw, timeout_s=timeout_s)
            assert self._runner is not None and self._env is not None
            return self._runner.call(partial(getattr(self._env, method), *args, **kw), timeout_s)
        except WorkerTimeout as e:
            self._invalidate(f"{method} timed out after {timeout_s:g}s")
            if at_wall:
                raise EnvWallTime(
                    f"{self._where(action)}: {method} stopped at the episode's wall-time limit"
                ) from e
            raise EnvError(f"{self._where(action)}: {method} timed out after {timeout_s:g}s") from e
        except WorkerCrashed as e:
            self._invalidate(f"{method} crashed the worker")
            raise EnvError(f"{self._where(action)}: {method} crashed: {e}") from e
        except RemoteError as e:
            log.debug("remote traceback:\n%s", e.remote_traceback)
            raise EnvError(f"{self._where(action)}: {method} failed: {e}") from e
        except EnvError:
            raise
        except Exception as e:
            raise EnvError(
                f"{self._where(action)}: {method} failed: {type(e).__name__}: {e}"
            ) from e

    # -- the Env protocol ---------------------------------------------------------------

    def tasks(self, split: str) -> list[Task]:
        return self._call("tasks", split, timeout_s=self.call_timeout_s)  # type: ignore[no-any-return]

    def reset(self, task: Task) -> str:
        if self._broken and not self._ready and self._factory is None:
            raise EnvError(f"{self._where()}: unusable after an earlier failure: {self._broken}")
        self.task_id, self.step_count = task.id, 0
        return self._call("reset", task, timeout_s=self.reset_timeout_s)  # type: ignore[no-any-return]

    def step(self, action: str) -> StepResult:
        if not self._ready:
            raise EnvError(f"{self._where(action)}: step before reset (or after a failure)")
        self.step_count += 1
        return self._call("step", action, timeout_s=self.step_timeout_s, action=action)  # type: ignore[no-any-return]

    def action_space_text(self) -> str:
        return self._call("action_space_text", timeout_s=self.call_timeout_s)  # type: ignore[no-any-return]

    def valid_actions(self) -> list[str] | None:
        return self._call("valid_actions", timeout_s=self.step_timeout_s)  # type: ignore[no-any-return]

    def documents(self) -> list[Document]:
        return self._call("documents", timeout_s=self.call_timeout_s)  # type: ignore[no-any-return]

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        self.task_id, self.step_count = task.id, 0
        return self._call(  # type: ignore[no-any-return]
            "demonstrate", task, max_steps=max_steps, timeout_s=self.call_timeout_s
        )

    def close(self) -> None:
        if self._ready:
            with contextlib.suppress(EnvError):
                self._call("close", timeout_s=30)
        self._ready = False
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._runner is not None:
            self._runner.stop()
            self._runner = None
        if self._env is not None and self.mode == "thread" and self._factory is not None:
            self._env = None

    def __getattr__(self, name: str) -> Any:
        """An environment's own extras (`demonstrate_noisy`, `worker_resources`, ...):
        methods run under the guard like the protocol's, other attributes are read."""
        if name.startswith("_"):
            raise AttributeError(name)
        if self.mode == "thread":
            self._ensure(name)
            value = getattr(self._env, name)
            if not callable(value):
                return value
        elif not self._call("__lbi_callable__", name, timeout_s=self.call_timeout_s):
            return self._call("__lbi_getattr__", name, timeout_s=self.call_timeout_s)
        if name in REPLAYED:
            return partial(self._setup_call, name)
        return partial(self._call, name, timeout_s=self.call_timeout_s)

    def _setup_call(self, name: str, *args: Any) -> Any:
        """A `REPLAYED` call: made now, and again on every env built after a failure."""
        out = self._call(name, *args, timeout_s=self.call_timeout_s)
        self._setup_calls.append((name, args))
        return out

    def __enter__(self) -> GuardedEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def guard_env(
    name: str,
    *,
    mode: GuardMode = "process",
    reset_timeout_s: float = 120.0,
    step_timeout_s: float = 60.0,
    memory_limit_mb: int | None = None,
    **options: Any,
) -> GuardedEnv:
    """`make_env(name, **options)` behind a `GuardedEnv` (built lazily on first use)."""
    from lbi_icl.envs.registry import make_env

    return GuardedEnv(
        partial(make_env, name, **options),
        mode=mode,
        name=name,
        reset_timeout_s=reset_timeout_s,
        step_timeout_s=step_timeout_s,
        memory_limit_mb=memory_limit_mb,
    )
