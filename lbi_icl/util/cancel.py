"""Cooperative cancellation: the stop event of the episode a thread is running, seen by the
waits deep inside it (an LLM client's back-off between retries), so Ctrl-C or fail-fast
does not sit out a retry schedule of minutes.

The runner wraps each episode in `cancel_scope(stop)`; code that waits calls
`wait_or_cancel(seconds)`, which returns at once and raises `Cancelled` when the scope's
event is set. Outside a scope it just sleeps. `Cancelled` is a `BaseException`, like
`KeyboardInterrupt`, so the `except Exception` handlers that turn failures into error
steps do not swallow it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

_local = threading.local()


class Cancelled(BaseException):
    """The current scope's stop event was set while this thread waited."""


@contextlib.contextmanager
def cancel_scope(event: threading.Event | None) -> Iterator[None]:
    """Make `event` this thread's cancellation signal for the block (nested scopes stack)."""
    previous = getattr(_local, "event", None)
    _local.event = event
    try:
        yield
    finally:
        _local.event = previous


def current_event() -> threading.Event | None:
    return getattr(_local, "event", None)


def cancelled() -> bool:
    event = current_event()
    return event is not None and event.is_set()


def wait_or_cancel(seconds: float) -> None:
    """Sleep `seconds`, or raise `Cancelled` as soon as the scope's event is set."""
    event = current_event()
    if event is None:
        time.sleep(seconds)
    elif event.wait(seconds):
        raise Cancelled
