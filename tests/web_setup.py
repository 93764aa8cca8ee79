"""The one rule for web tests that need extra set-up (WebArena-family packages, Debian's
chromium): outside CI a missing piece skips the test module; under CI (CI set) it fails
every test of the module, so a broken `.ci/setup-*.sh` cannot pass as skipped tests."""

from __future__ import annotations

import importlib.util
import os

import pytest

from lbi_icl.envs.browsergym.launch import find_chromium


def has_module(module: str) -> bool:
    """find_spec without importing the module itself (webarena asserts on import)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def require_setup(modules: tuple[str, ...], *, chromium: bool) -> str | None:
    """What is missing (None when all is there); skips the calling module outside CI."""
    missing = [m for m in modules if not has_module(m)]
    why = f"{', '.join(missing)} not installed (bash .ci/setup-webarena.sh)" if missing else None
    if why is None and chromium and find_chromium() is None:
        why = "chromium is not installed (bash .ci/setup-web.sh)"
    if why and not os.environ.get("CI"):
        pytest.skip(why, allow_module_level=True)
    return why


def fail_under_ci(why: str | None) -> None:
    """Called by each module's autouse fixture: under CI a missing set-up is a failure."""
    if why:
        pytest.fail(f"CI: {why}", pytrace=False)
