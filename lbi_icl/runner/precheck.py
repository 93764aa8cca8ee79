"""What `run_experiment` checks before the first episode, and how it stops early.

- `check_llm`: a remote LLM's server must accept a TCP connection (no request is sent, so
  nothing is billed); an unreachable server would otherwise cost every episode its full
  retry budget (~14 s) and still end in an error.
- `FailFast`: when the first `n` episodes of a session all end in the same error, the rest
  would too (unusable index, LLM, environment): the run stops (exit code 4).
- `recover_run_dir`: under the run's lock, a session another process left "running" was
  killed; it is marked so, and the temp files of its interrupted atomic writes are removed.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lbi_icl.util.scrub import scrub_text

log = logging.getLogger(__name__)

_DEFAULT_HOSTS = {"openai": "https://api.openai.com", "anthropic": "https://api.anthropic.com"}


class PrecheckError(ValueError):
    """The index or LLM cannot serve the run; nothing was run."""


def check_llm(
    spec: str | None, base_url: str | None = None, *, cache_mode: str = "rw", timeout_s: float = 5.0
) -> None:
    """Raise `PrecheckError` when the server of a remote LLM spec (`openai:MODEL`,
    `anthropic:MODEL`) refuses connections. Checked from the spec, before the LLM (and its
    cache file) is made, so a refused run leaves nothing behind."""
    if not spec or cache_mode == "replay":
        return
    backend = spec.split(":", 1)[0]
    if backend not in _DEFAULT_HOSTS:  # scripted or a plugin: nothing to reach
        return
    env_var = "OPENAI_BASE_URL" if backend == "openai" else "ANTHROPIC_BASE_URL"
    url = base_url or os.environ.get(env_var) or _DEFAULT_HOSTS[backend]
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise PrecheckError(f"LLM base URL {scrub_text(url)!r}: no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise PrecheckError(f"LLM base URL {scrub_text(url)!r}: {e}") from e
    if not _is_loopback(host) and any(
        os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
    ):
        return  # the SDK goes through the proxy; a direct connect would prove nothing
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise PrecheckError(
            f"LLM server {scrub_text(url)} is unreachable ({reason}); start it or fix "
            "--llm-base-url / the base URL variable (nothing was run)"
        ) from e


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1")


def _error_kind(error: str | None) -> str:
    """What failed and how, without the task, step or message details: the agent loop's
    'task T step N: policy failed: ScriptExhaustedError: ...' gives 'policy failed:
    ScriptExhaustedError'; other messages lose their numbers and quoted parts."""
    text = error or ""
    m = re.search(r"([\w.]+) failed: ([A-Za-z_][\w.]*)", text)
    if m:
        return f"{m.group(1)} failed: {m.group(2)}"
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"\d+", "N", text)


class FailFast:
    """Watches the first `n` results of a session; `aborted` names why the run stops."""

    def __init__(self, n: int):
        self.n = n
        self.seen = 0
        self.kinds: set[str] = set()
        self.first_error: str | None = None
        self.aborted: str | None = None

    def observe(self, stop_reason: str, error: str | None) -> bool:
        """Record one finished episode; True when the run must stop now."""
        if self.n <= 0 or self.seen >= self.n or self.aborted:
            return False
        self.seen += 1
        if stop_reason != "error" and error is None:
            self.seen = self.n  # one episode ran: the setup works
            return False
        self.kinds.add(_error_kind(error))
        self.first_error = self.first_error or error
        if self.seen == self.n and len(self.kinds) == 1:
            self.aborted = (
                f"the first {self.n} episodes all failed the same way, so the rest would "
                f"too: {self.first_error}"
            )
            return True
        return False


def recover_run_dir(run_dir: Path, previous: dict[str, Any] | None) -> None:
    """Mark sessions left "running" by a killed process and remove stale temp files.
    Called with the run's lock held, so no live process owns either."""
    for s in (previous or {}).get("sessions", []):
        if isinstance(s, dict) and s.get("status") == "running":
            s["status"] = "killed"
            log.warning(
                "%s: a previous session (started %s) was killed", run_dir, s.get("started_at")
            )
    if not run_dir.is_dir():
        return
    for tmp in run_dir.rglob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
