"""`make_llm(spec)`: one place that turns 'openai:gpt-4o' / 'anthropic:…' / 'scripted:FILE'
into a configured LLM with cache, retries, timeout, concurrency and rate limits, and
prompt-cache breakpoints."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lbi_icl.llm.base import LLM
from lbi_icl.llm.cache import CACHE_MODES, CacheMode, ResponseCache
from lbi_icl.llm.core import is_loopback
from lbi_icl.llm.errors import LLMConfigError
from lbi_icl.llm.prompt_cache import CachePrompt
from lbi_icl.llm.ratelimit import check_limits
from lbi_icl.llm.retry import Backoff

log = logging.getLogger(__name__)

BACKENDS = ("openai", "anthropic", "scripted")
REMOTE_TIMEOUT_S = 60.0
LOCAL_TIMEOUT_S = 600.0
_BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


def default_timeout(backend: str, base_url: str | None) -> float:
    """Per-request timeout when none is given (see `make_llm`)."""
    override = os.environ.get("LBI_LLM_TIMEOUT_S", "").strip()
    if override:
        try:
            value = float(override)
        except ValueError:
            raise LLMConfigError(
                f"LBI_LLM_TIMEOUT_S={override!r} is not a number of seconds"
            ) from None
        if value <= 0:
            raise LLMConfigError(f"LBI_LLM_TIMEOUT_S must be > 0, got {override!r}")
        return value
    url = base_url or os.environ.get(_BASE_URL_ENV.get(backend, ""), "") or None
    return LOCAL_TIMEOUT_S if is_loopback(url) else REMOTE_TIMEOUT_S


def parse_spec(spec: str) -> tuple[str, str]:
    """'openai:gpt-4o' -> ('openai', 'gpt-4o'). Only the first ':' splits (Ollama tags keep
    theirs: 'openai:llama3:8b' -> model 'llama3:8b')."""
    backend, sep, rest = spec.strip().partition(":")
    if not sep or not rest.strip():
        raise LLMConfigError(
            f"LLM spec {spec!r} must look like BACKEND:MODEL, e.g. 'openai:gpt-4o-mini', "
            "'anthropic:claude-3-5-haiku-latest' or 'scripted:responses.json'"
        )
    backend = backend.strip().lower()
    if backend not in BACKENDS:
        raise LLMConfigError(
            f"unknown LLM backend {backend!r} in spec {spec!r}; choose one of {BACKENDS}"
        )
    return backend, rest.strip()


def make_llm(
    spec: str,
    *,
    cache_path: str | Path | None = None,
    cache_mode: CacheMode = "rw",
    base_url: str | None = None,
    timeout_s: float | None = None,
    max_retries: int = 5,
    max_concurrency: int = 8,
    backoff_base_s: float = 0.5,
    backoff_max_s: float = 30.0,
    cache_prompt: CachePrompt = "auto",
    rpm: float | None = None,
    tpm: float | None = None,
    rate_share: float = 1.0,
) -> LLM:
    """Build the LLM named by `spec`.

    - `cache_path`: SQLite response cache (None = no cache). `cache_mode`: 'rw' (read and
      record), 'off', or 'replay' (answers only from the cache; a miss is CacheMissError,
      and no API key is needed).
    - `base_url`: OpenAI-compatible server or Anthropic proxy; defaults to OPENAI_BASE_URL /
      ANTHROPIC_BASE_URL. Keys come only from OPENAI_API_KEY / ANTHROPIC_API_KEY.
    - `timeout_s` per request, `max_retries` on 429/timeouts/5xx with exponential backoff
      (`backoff_base_s` doubling, capped at `backoff_max_s`, jittered), `max_concurrency`
      requests in flight at once across all threads using this LLM.
    - `cache_prompt`: 'auto' | 'on' | 'off' — mark the prompt's stable prefix for the
      provider's prompt cache (Anthropic `cache_control` breakpoints; OpenAI caches by
      itself and gets a `prompt_cache_key`: 'auto' sends it to api.openai.com only).
    - `rpm` / `tpm`: requests / tokens per minute for this model, shared by every thread
      and every LLM object of the same model in this process; `rate_share` is this
      process's part of them (1/N for N worker processes or Ray actors).
    `timeout_s` defaults to `REMOTE_TIMEOUT_S` (60 s), or `LOCAL_TIMEOUT_S` (600 s) for a
    server on 127.0.0.1 / localhost, where CPU inference of a long prompt takes minutes and
    a timed-out request would still occupy the single-slot server while its retry waits.
    `LBI_LLM_TIMEOUT_S` in the environment overrides both defaults.
    `scripted:PATH` ignores cache and network settings: it is offline and deterministic.
    """
    backend, rest = parse_spec(spec)
    if cache_mode not in CACHE_MODES:
        raise LLMConfigError(f"cache_mode must be one of {CACHE_MODES}, got {cache_mode!r}")
    if backend == "scripted":
        from lbi_icl.llm.scripted import ScriptedLLM

        if cache_path is not None:
            log.debug("scripted LLM %s: response cache not used (answers are scripted)", rest)
        return ScriptedLLM.from_file(rest)
    if cache_mode == "replay" and cache_path is None:
        raise LLMConfigError("cache_mode='replay' needs a cache_path to replay from")
    if backoff_base_s < 0 or backoff_max_s < 0:
        raise LLMConfigError("backoff times must be >= 0")
    if timeout_s is None:
        timeout_s = default_timeout(backend, base_url)
    limits = check_limits(rpm, tpm, rate_share)
    cache = ResponseCache(cache_path, cache_mode) if cache_path is not None else None
    common = {
        "base_url": base_url,
        "timeout_s": timeout_s,
        "max_retries": max_retries,
        "max_concurrency": max_concurrency,
        "cache": cache,
        "backoff": Backoff(base_s=backoff_base_s, max_s=backoff_max_s),
        "cache_prompt": cache_prompt,
        "rate_limits": limits,
    }
    if backend == "openai":
        from lbi_icl.llm.openai_backend import OpenAILLM

        return OpenAILLM(rest, **common)  # type: ignore[arg-type]
    from lbi_icl.llm.anthropic_backend import AnthropicLLM

    return AnthropicLLM(rest, **common)  # type: ignore[arg-type]
