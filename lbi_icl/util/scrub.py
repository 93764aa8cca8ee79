"""Secret scrubbing for everything lbi writes or logs: manifests, session argv, episode
errors, lock files and log lines.

- every URL loses its `user:password@` part, and each query parameter's value (where
  `?api_key=...` hides) becomes `***`, also in a bare request path (`/v1/?key=...`); the
  fragment goes too;
- any string equal to the value of a secret-looking environment variable (…KEY, …TOKEN,
  …SECRET, …PASSWORD, …CREDENTIAL) is replaced by `***`.

`ScrubFilter` applies the same to log records (httpx logs each request's full URL);
`install_log_filter()` puts it on the root logger's handlers.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>[^\s\"'<>]+)")
# a query parameter outside a full URL (an SDK error quoting a request path: `/v1/?k=v`)
_QUERY_PARAM = re.compile(r"(?P<name>[?&][A-Za-z0-9_.\-\[\]]+=)(?!\*\*\*)[^&\s\"'<>#]+")
REDACTED = "***"


def _secret_values() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8]


def _scrub_url(m: re.Match[str]) -> str:
    rest = m.group("rest")
    rest, _, _fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
    out = f"{m.group('scheme')}{authority}{slash}{path}"
    if qmark:
        params = [p.partition("=")[0] + f"={REDACTED}" for p in query.split("&") if p]
        out += "?" + "&".join(params)
    return out


def scrub_text(text: str, secrets: list[str] | None = None) -> str:
    secrets = _secret_values() if secrets is None else secrets
    out = _URL.sub(_scrub_url, text) if "://" in text else text
    if "=" in out:
        out = _QUERY_PARAM.sub(lambda m: f"{m.group('name')}{REDACTED}", out)
    for s in secrets:
        if s in out:
            out = out.replace(s, REDACTED)
    return out


def scrub(value: Any, secrets: list[str] | None = None) -> Any:
    """`value` with URL credentials / query values and known secret values redacted
    (recursively through dicts, lists and tuples)."""
    secrets = _secret_values() if secrets is None else secrets
    if isinstance(value, str):
        return scrub_text(value, secrets)
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


class ScrubFilter(logging.Filter):
    """Rewrites each record's message with `scrub_text` (args merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler
            return True
        clean = scrub_text(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Add one `ScrubFilter` to every handler of `logger` (default: root)."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(ScrubFilter())
