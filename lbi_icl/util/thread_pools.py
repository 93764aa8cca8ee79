"""Process-wide helper thread pools, created on first use (never at import time)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[str, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def shared_pool(name: str, max_workers: int) -> ThreadPoolExecutor:
    """The pool called `name`, created with `max_workers` threads the first time it is asked for."""
    with _LOCK:
        pool = _POOLS.get(name)
        if pool is None:
            pool = _POOLS[name] = ThreadPoolExecutor(max_workers, thread_name_prefix=f"lbi-{name}")
        return pool
