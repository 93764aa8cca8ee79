"""OSWorld's own metrics and getters, loaded one module at a time.

`desktop_env.evaluators.metrics/__init__.py` (and `getters/__init__.py`) import every module
(easyocr, librosa, cv2, playwright, ...), so the package `__init__`s are never run: the
packages are entered as empty namespace modules pointing at the installed folders, and
only the module that defines the asked-for function is imported. Which module defines a
function is read from the source (ast), so naming an unknown metric or getter is an error
before any import.

A few heavy optional imports that only some metrics of a module use (easyocr, scikit-image
in `metrics/docs.py`) are replaced by placeholders when not installed: the module loads,
and a metric that really calls them fails naming the package.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

SETUP = "bash .ci/setup-desktop.sh"
PACKAGES = ("desktop_env", "desktop_env.evaluators")
KINDS = {"metric": "desktop_env.evaluators.metrics", "getter": "desktop_env.evaluators.getters"}
PLACEHOLDERS = ("easyocr", "skimage", "skimage.color", "skimage.metrics", "cv2", "librosa")


class EvaluatorError(RuntimeError):
    """An unknown metric or getter, or an evaluator module that cannot load here."""


class MissingEvaluatorDependency(EvaluatorError):
    pass


@cache
def package_root() -> Path:
    try:
        spec = importlib.util.find_spec("desktop_env")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise EvaluatorError(f"OSWorld's evaluators (desktop-env) are not installed ({SETUP})")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _index(kind: str) -> dict[str, str]:
    """function name → module name, for one kind, from the modules' source."""
    folder = package_root() / "evaluators" / ("metrics" if kind == "metric" else "getters")
    out: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.setdefault(node.name, f"{KINDS[kind]}.{path.stem}")
    return out


def module_of(kind: str, name: str) -> str:
    """The module defining metric / getter `name` (getters are `get_<type>`)."""
    func = name if kind == "metric" else f"get_{name}"
    module = _index(kind).get(func)
    if module is None:
        raise EvaluatorError(f"unknown {kind} {name!r}: desktop-env defines no {func}()")
    return module


class _Placeholder(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        name = self.__name__

        def missing(*_: Any, **__: Any) -> Any:
            raise MissingEvaluatorDependency(
                f"this OSWorld metric needs {name}.{attr}, and {name.split('.')[0]} is not "
                f"installed (not part of {SETUP})"
            )

        return missing


def _enter_packages() -> None:
    root = package_root()
    for name, folder in (
        ("desktop_env", root),
        ("desktop_env.evaluators", root / "evaluators"),
        (KINDS["metric"], root / "evaluators" / "metrics"),
        (KINDS["getter"], root / "evaluators" / "getters"),
    ):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [str(folder)]
            mod.__package__ = name
            mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
            mod.__spec__.submodule_search_locations = [str(folder)]
            sys.modules[name] = mod


def _placeholders() -> list[str]:
    """Enter placeholders for the heavy optional imports that are not installed; returns
    their names, which the caller removes again once its module is imported (so nothing
    else in the process ever sees them)."""
    entered = []
    for name in PLACEHOLDERS:
        if name in sys.modules:
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            sys.modules[name] = _Placeholder(name)
            entered.append(name)
    return entered


def load(kind: str, name: str) -> Callable[..., Any]:
    """The metric (or getter `get_<name>`) function itself."""
    module_name = module_of(kind, name)
    _enter_packages()
    entered = _placeholders()
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise EvaluatorError(
            f"{kind} {name!r} is in {module_name}, which cannot load here: {e} ({SETUP})"
        ) from e
    finally:
        for placeholder in entered:
            sys.modules.pop(placeholder, None)
    func = name if kind == "metric" else f"get_{name}"
    return getattr(module, func)  # type: ignore[no-any-return]
