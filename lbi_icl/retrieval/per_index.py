"""A table derived from an index, built on first use: thread-safe, one per index object,
dropped with the index (the action, root and family tables of the fused strategies)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from lbi_icl.index.load import ExampleIndex

T = TypeVar("T")


class PerIndex(Generic[T]):
    def __init__(self, build: Callable[[ExampleIndex], T]) -> None:
        self._build = build
        self._tables: weakref.WeakKeyDictionary[ExampleIndex, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()  # one per table kind: a build may use another kind

    def __call__(self, index: ExampleIndex) -> T:
        with self._lock:
            table = self._tables.get(index)
            if table is None:
                table = self._tables[index] = self._build(index)
            return table
