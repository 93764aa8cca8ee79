"""Launching Chromium for BrowserGym without Playwright's own browser download.

Playwright normally runs the Chromium build it downloads (`playwright install`), which is
not reachable on offline machines. BrowserGym launches two browsers per episode through
the process-wide Playwright object (`browsergym.core._get_global_playwright()`): the page
browser in `BrowserEnv.reset` and the chat window in `browsergym.core.chat.Chat`. Only
the first accepts launch options (`pw_chromium_kwargs`), and neither accepts extra
command-line flags (BrowserEnv passes its own `args=`). So the browser session wraps the
`launch` method of that one Playwright object — in the worker process only — to add the
executable path and the flags below; everything else BrowserGym passes is kept.

Executable: `LBI_CHROMIUM` if set, else the first of `chromium`, `chromium-browser`,
`google-chrome` on PATH (Debian: `apt-get install chromium` gives /usr/bin/chromium).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

# Playwright already passes --no-sandbox (chromiumSandbox is off by default),
# --disable-background-networking, --disable-component-update and --no-first-run; they are
# repeated here so the list is complete on its own (Chromium ignores duplicates).
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--metrics-recording-only",
)
# Nothing but loopback and local files: every host name resolves to nothing.
OFFLINE_FLAG = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1"

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ChromiumNotFoundError(FileNotFoundError):
    """No Chromium executable: names the variable and the Debian package."""


def find_chromium() -> str | None:
    explicit = os.environ.get("LBI_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    path = find_chromium()
    if path is None:
        where = os.environ.get("LBI_CHROMIUM")
        if where:
            raise ChromiumNotFoundError(f"LBI_CHROMIUM={where!r} is not an executable file")
        raise ChromiumNotFoundError(
            "no Chromium found on PATH (looked for "
            + ", ".join(_CANDIDATES)
            + "); install it with `apt-get install chromium` or set LBI_CHROMIUM=/path/to/chrome"
        )
    return path


def patch_playwright_launch(
    pw: Any, executable: str, extra_flags: tuple[str, ...]
) -> Callable[..., Any]:
    """Make `pw.chromium.launch` use `executable` and add `extra_flags`; idempotent.
    Returns the original launch method."""
    chromium = pw.chromium
    original = getattr(chromium, "_lbi_original_launch", None)
    if original is None:
        original = chromium.launch
        chromium._lbi_original_launch = original

    def launch(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("executable_path", executable)
        given = list(kwargs.get("args") or [])
        kwargs["args"] = given + [f for f in extra_flags if f not in given]
        return original(*args, **kwargs)

    chromium.launch = launch
    return original  # type: ignore[no-any-return]
