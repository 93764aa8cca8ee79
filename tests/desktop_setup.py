"""The one rule for desktop tests (like tests/web_setup.py): outside CI a missing piece
(Debian's desktop packages, the desktop's Python, OSWorld's evaluators) skips the module;
under CI (CI set) every test of the module fails, so a broken .ci/setup-desktop.sh cannot
pass as skipped tests."""

from __future__ import annotations

import importlib.util
import os

import pytest


def missing_evaluators() -> str | None:
    try:
        found = importlib.util.find_spec("desktop_env") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else "desktop-env not installed (bash .ci/setup-desktop.sh)"


def require_desktop(*, local: bool = True) -> str | None:
    """What is missing (None when all is there); skips the calling module outside CI."""
    why = missing_evaluators()
    if why is None and local:
        from lbi_icl.envs.desktop import deps

        problems = deps.missing()
        why = "; ".join(problems) if problems else None
    if why and not os.environ.get("CI"):
        pytest.skip(why, allow_module_level=True)
    return why


def fail_under_ci(why: str | None) -> None:
    if why:
        pytest.fail(f"CI: {why}", pytrace=False)
