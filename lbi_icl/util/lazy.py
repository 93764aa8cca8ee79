"""Lazy public names for packages: a name's module is imported on first attribute access,
so importing a package never pulls in torch, faiss or an environment."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_getattr(namespace: dict[str, Any], exports: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` resolving `exports` (name -> defining module) and caching
    each value in `namespace` (the package's `globals()`)."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
