"""Offline relabelers (backward construction without an LLM) and window checkers, found by
environment name.

Built-ins live in `lbi_icl.synth.relabel_<env>` modules and are imported only when asked
for. Such a module provides the relabeler in one of these ways (first match wins):

1. a function ``make_relabeler(**options) -> Relabeler``;
2. a module-level class whose name ends in ``Relabeler`` and that is defined in the
   module, built with ``cls(**options)``.

Third parties add their own through the entry-point group ``lbi_icl.relabelers``
(``name = "pkg.module:make_relabeler"``), keyed by environment name.

Window checkers (the environment-check filter) follow the same pattern with
``make_checker`` / a class ending in ``Checker`` in ``lbi_icl.synth.check_<env>``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from types import ModuleType
from typing import Any

from lbi_icl.synth.base import Relabeler, WindowChecker

log = logging.getLogger(__name__)

RELABELER_GROUP = "lbi_icl.relabelers"
CHECKER_GROUP = "lbi_icl.window_checkers"

BUILTIN_RELABELERS: dict[str, str] = {
    "babyai": "lbi_icl.synth.relabel_babyai",
    "scienceworld": "lbi_icl.synth.relabel_scienceworld",
    "swe": "lbi_icl.synth.relabel_swe",
    "miniwob": "lbi_icl.synth.relabel_web",
    "webarena": "lbi_icl.synth.relabel_web",
    "desktop": "lbi_icl.synth.relabel_desktop",
    "osworld": "lbi_icl.synth.relabel_desktop",
    "spider2v": "lbi_icl.synth.relabel_desktop",
}
BUILTIN_CHECKERS: dict[str, str] = {
    "babyai": "lbi_icl.synth.check_babyai",
    "scienceworld": "lbi_icl.synth.check_scienceworld",
    "desktop": "lbi_icl.synth.check_desktop",
    "osworld": "lbi_icl.synth.check_desktop",
    "spider2v": "lbi_icl.synth.check_desktop",
}


class NoRelabelerError(LookupError):
    """No offline relabeler exists for that environment (use an LLM writer instead)."""


def _from_module(
    module: ModuleType, factory_name: str, suffix: str, options: dict[str, Any]
) -> Any:
    factory = getattr(module, factory_name, None)
    if callable(factory):
        return factory(**options)
    for attr, obj in vars(module).items():
        if (
            inspect.isclass(obj)
            and attr.endswith(suffix)
            and obj.__module__ == module.__name__
            and not getattr(obj, "_is_protocol", False)
        ):
            return obj(**options)
    raise NoRelabelerError(
        f"{module.__name__} defines neither {factory_name}() nor a *{suffix} class"
    )


def _from_entry_point(group: str, env_name: str, options: dict[str, Any]) -> Any | None:
    try:
        eps = importlib.metadata.entry_points(group=group)
    except Exception:
        return None
    for ep in eps:
        if ep.name == env_name:
            return ep.load()(**options)
    return None


def get_relabeler(env_name: str, **options: Any) -> Relabeler:
    """The offline relabeler for `env_name` (BabyAI hindsight, ScienceWorld templates, or
    a plugin's). Raises `NoRelabelerError` when there is none."""
    module_name = BUILTIN_RELABELERS.get(env_name)
    obj: Any = None
    if module_name is not None:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            raise NoRelabelerError(f"no offline relabeler for {env_name!r} yet") from e
        obj = _from_module(module, "make_relabeler", "Relabeler", options)
    else:
        obj = _from_entry_point(RELABELER_GROUP, env_name, options)
    if obj is None:
        raise NoRelabelerError(
            f"no offline relabeler for environment {env_name!r}; use an LLM writer "
            f"(--writer llm) or register one in the {RELABELER_GROUP!r} entry-point group"
        )
    if not isinstance(obj, Relabeler):
        raise TypeError(f"relabeler for {env_name!r} does not implement Relabeler: {obj!r}")
    return obj


def get_checker(env_name: str, **options: Any) -> WindowChecker | None:
    """The environment-check filter for `env_name`, or None when the environment has none."""
    module_name = BUILTIN_CHECKERS.get(env_name)
    obj: Any = None
    if module_name is not None:
        module = importlib.import_module(module_name)
        obj = _from_module(module, "make_checker", "Checker", options)
    else:
        obj = _from_entry_point(CHECKER_GROUP, env_name, options)
    if obj is None:
        return None
    if not isinstance(obj, WindowChecker):
        raise TypeError(f"checker for {env_name!r} does not implement WindowChecker: {obj!r}")
    return obj
