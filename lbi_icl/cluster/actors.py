"""`ActorExecutor`: a `concurrent.futures` face on a fixed set of Ray actors, with bounded
replacement of actors that die. Shared by the run's Ray pool (`runner/pools_ray.py`) and
synthesis on Ray (`synth/ray_rollouts.py`); it knows nothing of either.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class ActorExecutor(cf.Executor):
    """A `concurrent.futures` face on a fixed set of Ray actors, for `completed_in_window`.

    `submit(call, job)` runs `call(actor, job)` (an ObjectRef) on an idle actor; never more
    jobs than actors are in flight, which the window guarantees. A job whose actor died is
    resubmitted on a fresh actor up to `retries` times; then (or at once when the actor
    could not even be built) its future holds `on_gave_up(job, why)`.
    """

    def __init__(
        self,
        ray: Any,
        make_actor: Callable[[], Any],
        n: int,
        retries: int,
        on_gave_up: Callable[[Any, str], Any],
    ):
        self.ray = ray
        self.make_actor = make_actor
        self.retries = retries
        self.on_gave_up = on_gave_up
        self.idle: list[Any] = [make_actor() for _ in range(n)]
        self.busy: list[Any] = []
        self.lock = threading.Lock()
        self.closed = False

    def actors(self) -> list[Any]:
        with self.lock:
            return [*self.idle, *self.busy]

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        out: cf.Future[Any] = cf.Future()
        out.set_running_or_notify_cancel()
        self._dispatch(fn, args[0], out, 0)
        return out

    def _dispatch(self, call: Callable[[Any, Any], Any], job: Any, out: cf.Future[Any], n: int):
        with self.lock:
            if not self.idle:
                raise RuntimeError("no idle Ray worker: more jobs submitted than workers")
            actor = self.idle.pop()
            self.busy.append(actor)
        ref = call(actor, job)
        ref.future().add_done_callback(lambda f: self._finished(f, actor, call, job, out, n))

    def _finished(self, f: cf.Future[Any], actor: Any, call: Any, job: Any, out: Any, n: int):
        # Runs on Ray's callback thread, where calling Ray (kill, new actors) can deadlock:
        # a dead actor is handled on a thread of its own.
        exc = f.exception()
        if exc is not None and isinstance(exc, _died_errors(self.ray)):
            threading.Thread(
                target=self._replace, args=(exc, actor, call, job, out, n), daemon=True
            ).start()
            return
        with self.lock:
            if actor in self.busy:
                self.busy.remove(actor)
                self.idle.append(actor)
        if exc is None:
            out.set_result(f.result())
        else:
            out.set_exception(exc)

    def _replace(self, exc: BaseException, actor: Any, call: Any, job: Any, out: Any, n: int):
        try:
            with self.lock:
                if self.closed or actor not in self.busy:
                    return
                self.busy.remove(actor)
            self.ray.kill(actor, no_restart=True)
            fresh = self.make_actor()  # its replacement takes the slot
            with self.lock:
                self.idle.append(fresh)
            if getattr(exc, "actor_init_failed", False):  # the worker cannot be built here:
                out.set_result(self.on_gave_up(job, f"Ray worker failed to start: {_cause(exc)}"))
            elif n < self.retries:
                what = getattr(job, "key", None) or getattr(job, "uid", job)
                log.warning("a Ray worker died on %s; retry %d of %d", what, n + 1, self.retries)
                self._dispatch(call, job, out, n + 1)
            else:
                why = f"Ray worker died {n + 1} times running it: {_cause(exc)}"
                out.set_result(self.on_gave_up(job, why))
        except BaseException as e:  # delivered to the driver waiting on `out`
            if not out.done():
                out.set_exception(e)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self.lock:
            self.closed = True
            actors = [*self.idle, *self.busy]
            self.idle, self.busy = [], []
        if wait:  # a clean end: let each actor close its environment
            refs = [a.close.remote() for a in actors]
            try:
                self.ray.get(refs, timeout=60)
            except Exception as e:
                log.warning("closing Ray workers: %s", e)
        for a in actors:
            self.ray.kill(a, no_restart=True)


def _died_errors(ray: Any) -> tuple[type[BaseException], ...]:
    exc = ray.exceptions
    return (exc.RayActorError, exc.WorkerCrashedError, exc.NodeDiedError)


def _cause(exc: BaseException) -> str:
    """The error's kind, first line and last line (the inner exception of a failed
    `__init__`, or the reason Ray gives for a lost process); no actor ids in between."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Ray colours the actor's name
    lines = [ln.strip() for ln in plain.splitlines() if ln.strip()]
    lines = [re.sub(r"\s*\([^()]*\b(pid|actor_id)=[^()]*\)", "", ln) for ln in lines]
    text = " … ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""
    return f"{type(exc).__name__}: {text}"[:400]
