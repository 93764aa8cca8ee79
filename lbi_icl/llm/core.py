"""The machinery shared by network backends: response cache, concurrency limit, shared rate
limit, retries, latency and cost, usage totals, prompt-cache breakpoints (`prompt_cache.py`),
and a key-free description for manifests."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from lbi_icl.llm.base import GenerationParams, LLMResponse, Message, Usage
from lbi_icl.llm.cache import (
    CachedResponse,
    CacheMode,
    ResponseCache,
    cache_key,
    request_json,
)
from lbi_icl.llm.errors import (
    CacheMissError,
    LLMAuthError,
    LLMConfigError,
    LLMError,
    LLMRequestError,
    LLMUnavailableError,
)
from lbi_icl.llm.pricing import cost_usd
from lbi_icl.llm.prompt_cache import (
    CACHE_PROMPT_MODES,
    NO_PLAN,
    CachePlan,
    CachePrompt,
    PrefixTracker,
)
from lbi_icl.llm.ratelimit import RateLimits, request_tokens, shared_limiter
from lbi_icl.llm.retry import Backoff, Failure
from lbi_icl.llm.usage import UsageTotals
from lbi_icl.util.cancel import Cancelled, cancelled, wait_or_cancel

log = logging.getLogger("lbi_icl.llm")

# Sent as the API key to a loopback server when the key variable is unset: local
# OpenAI-compatible servers (vLLM, Ollama, llama.cpp) ignore the key but the SDK wants one.
LOCAL_PLACEHOLDER_KEY = "lbi-local-no-key"


class LLMInfo(BaseModel):
    """How an LLM is configured, safe to write into manifests (never holds a key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str
    backend: str
    model: str
    offline: bool = False
    base_url: str | None = None  # scheme://host[:port]/path only: no credentials, no query
    timeout_s: float | None = None
    max_retries: int | None = None
    max_concurrency: int | None = None
    cache_path: str | None = None
    cache_mode: str | None = None
    script_sha256: str | None = None  # scripted: fingerprint of the script file
    cache_prompt: str | None = None  # prompt-cache breakpoints: auto | on | off
    rpm: float | None = None  # this process's shared rate limit (after `rate_share`)
    tpm: float | None = None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str a surrogate is always unpaired


def coerce_messages(messages: Sequence[Message | dict[str, Any]]) -> list[Message]:
    """Accept `Message`s or plain {'role','content'} dicts; reject anything else clearly."""
    out = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m)
        else:
            try:
                out.append(Message.model_validate(m))
            except ValueError as exc:
                raise LLMRequestError(f"messages[{i}] is not a valid chat message: {exc}") from None
    if not out:
        raise LLMRequestError("messages is empty: give at least one chat message")
    return out


def is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_url(url: str | None) -> str | None:
    """`url` without user:password, query or fragment (where secrets could hide)."""
    if not url:
        return None
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_api_key(env_var: str, backend: str, base_url: str | None) -> str:
    """The key from `env_var`; a placeholder for loopback servers; else a clear error."""
    key = os.environ.get(env_var, "").strip()
    if key:
        return key
    if is_loopback(base_url):
        log.info("%s: %s is unset; sending a placeholder key to local server", backend, env_var)
        return LOCAL_PLACEHOLDER_KEY
    raise LLMConfigError(
        f"{env_var} is not set. The {backend} backend reads its API key only from the "
        f"environment variable {env_var} (export it; it is never written to logs or "
        "results). A local OpenAI-compatible server on 127.0.0.1/localhost needs no key."
    )


class _KeyLocks:
    """One lock per in-flight cache key, so concurrent identical requests call once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[Any]] = {}

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._lock:
            entry = self._held.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        entry[0].acquire()
        try:
            yield
        finally:
            entry[0].release()
            with self._lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._held[key]


class RemoteLLM:
    """Base of the network backends. Subclasses implement `_send` and `_classify`.

    `complete()` order: cache lookup (no slot needed) -> concurrency slot -> rate-limit
    turn -> request, with retries outside the slot so a backing-off call does not block
    others. `cache_prompt` (auto | on | off) says whether requests mark their stable prefix
    for the provider's prompt cache; `rate_limits` is the process's share of the model's
    requests / tokens per minute, shared by every LLM object of the same model.
    """

    backend: ClassVar[str]
    key_env: ClassVar[str]
    base_url_env: ClassVar[str]

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        max_concurrency: int = 8,
        cache: ResponseCache | None = None,
        backoff: Backoff | None = None,
        cache_prompt: CachePrompt = "auto",
        rate_limits: RateLimits | None = None,
    ) -> None:
        if not model:
            raise LLMConfigError(f"{self.backend}: model name is empty")
        if timeout_s <= 0:
            raise LLMConfigError(f"timeout_s must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise LLMConfigError(f"max_retries must be >= 0, got {max_retries}")
        if max_concurrency < 1:
            raise LLMConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if cache_prompt not in CACHE_PROMPT_MODES:
            raise LLMConfigError(
                f"cache_prompt must be one of {', '.join(CACHE_PROMPT_MODES)}, got {cache_prompt!r}"
            )
        self.model = model
        self.spec = f"{self.backend}:{model}"
        self.base_url = base_url or os.environ.get(self.base_url_env) or None
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.max_concurrency = int(max_concurrency)
        self.cache = cache if cache is not None and cache.mode != "off" else None
        self._cache_mode = cache.mode if cache is not None else "off"
        self._cache_path = str(cache.path) if cache is not None else None
        self.backoff = backoff or Backoff()
        self.usage = UsageTotals()
        self.cache_prompt: CachePrompt = cache_prompt
        self.prefixes = PrefixTracker()
        self.rate_limits = rate_limits or RateLimits()
        self.limiter = shared_limiter(self.backend, model, self.base_url, self.rate_limits)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._inflight = _KeyLocks()
        self._rng = random.Random()
        self._client: Any = None
        if self._cache_mode != "replay":  # replay never calls the provider: no key needed
            self._client = self._make_client(
                resolve_api_key(self.key_env, self.backend, self.base_url)
            )

    # --- subclass hooks ---------------------------------------------------------------
    def _make_client(self, api_key: str) -> Any:
        raise NotImplementedError

    def _cache_plan(self, messages: list[Message]) -> CachePlan:
        """Where this request marks its prompt-cache breakpoints; planned once per request,
        so a retried attempt sends the same body."""
        return NO_PLAN

    def _send(
        self, messages: list[Message], params: GenerationParams, plan: CachePlan
    ) -> tuple[str, Usage | None]:
        """One request. Returns the text and the provider's usage (None if it sent none)."""
        raise NotImplementedError

    def _classify(self, exc: BaseException) -> Failure | None:
        raise NotImplementedError

    def _rate_tokens(self, usage: Usage) -> int:
        """What a call counts against the tokens-per-minute limit."""
        return usage.input_tokens + usage.output_tokens

    # --- public -------------------------------------------------------------------------
    def complete(
        self, messages: Sequence[Message | dict[str, Any]], params: GenerationParams | None = None
    ) -> LLMResponse:
        msgs = coerce_messages(messages)
        params = params or GenerationParams()
        try:
            resp = self._complete(msgs, params)
        except LLMError:
            self.usage.add_error(self.backend, self.model)
            raise
        self.usage.add(resp)
        return resp

    def _complete(self, msgs: list[Message], params: GenerationParams) -> LLMResponse:
        start = time.perf_counter()
        if self.cache is None:
            resp = self._call(msgs, params, start)
        else:
            key = cache_key(self.backend, self.model, msgs, params)
            resp = self._from_cache(key, start)
            if resp is None:
                if self.cache.mode == "replay":
                    raise CacheMissError(
                        f"{self.spec}: no cached response for this request (key {key[:16]}) "
                        f"in {self.cache.path}; replay mode never calls the model"
                    )
                with self._inflight.hold(key):  # a twin request may have just filled it
                    resp = self._from_cache(key, start)
                    if resp is None:
                        resp = self._call(msgs, params, start)
                        self._store(key, msgs, params, resp)
        return resp

    def _store(
        self, key: str, msgs: list[Message], params: GenerationParams, resp: LLMResponse
    ) -> None:
        """Record a paid-for answer; a failing cache write is logged, not raised."""
        assert self.cache is not None
        entry = CachedResponse(
            text=resp.text,
            usage=resp.usage,
            cost_usd=resp.cost_usd,
            latency_s=resp.latency_s,
            backend=self.backend,
            model=self.model,
        )
        try:
            self.cache.put(key, request_json(self.backend, self.model, msgs, params), entry)
        except sqlite3.Error as exc:
            log.warning("%s: could not write LLM cache %s: %s", self.spec, self.cache.path, exc)

    def describe(self) -> LLMInfo:
        return LLMInfo(
            spec=self.spec,
            backend=self.backend,
            model=self.model,
            base_url=safe_url(self.base_url),
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            max_concurrency=self.max_concurrency,
            cache_path=self._cache_path,
            cache_mode=self._cache_mode,
            cache_prompt=self.cache_prompt,
            rpm=_per_process(self.rate_limits.rpm, self.rate_limits.share),
            tpm=_per_process(self.rate_limits.tpm, self.rate_limits.share),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as configuration only (for worker processes): the child rebuilds the
        client and re-reads the key from its own environment, so no key is ever pickled."""
        kwargs = {
            "base_url": self.base_url,
            "timeout_s": self.timeout_s,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
            "backoff": self.backoff,
            "cache_prompt": self.cache_prompt,
            "rate_limits": self.rate_limits,
        }
        cache = (self._cache_path, self._cache_mode) if self._cache_path is not None else None
        return (_rebuild, (type(self), self.model, kwargs, cache))

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        if self._client is not None:
            self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, base_url={safe_url(self.base_url)!r})"

    # --- internals ----------------------------------------------------------------------
    def _from_cache(self, key: str, start: float) -> LLMResponse | None:
        assert self.cache is not None
        hit = self.cache.get(key)
        if hit is None:
            return None
        return LLMResponse(
            text=hit.text,
            usage=hit.usage,  # what the original call used; totals do not count it again
            cost_usd=0.0,  # a hit costs nothing
            latency_s=time.perf_counter() - start,
            cached=True,
            model=self.model,
            backend=self.backend,
        )

    def _scrub(self, text: str) -> str:
        key = getattr(self._client, "api_key", None)
        if isinstance(key, str) and len(key) >= 6:
            text = text.replace(key, "***")
        return text

    def _call(self, msgs: list[Message], params: GenerationParams, start: float) -> LLMResponse:
        attempt = 0
        plan = self._cache_plan(msgs) if self.cache_prompt != "off" else NO_PLAN
        while True:
            if cancelled():
                raise Cancelled
            estimate = 0.0
            started = float("inf")  # a failure before the request started slows nothing
            try:
                with self._slots:
                    if self.rate_limits.tpm is not None:
                        texts = (m.content for m in msgs)
                        estimate = request_tokens(texts, params.max_tokens)
                    started = self.limiter.acquire(estimate)  # paces; waits out a pause
                    text, usage = self._send(msgs, params, plan)
                self.limiter.succeeded()
                if estimate and usage is not None:
                    self.limiter.settle(estimate, self._rate_tokens(usage))
                text = _LONE_SURROGATE.sub("\ufffd", text)  # would make the step log unwritable
                break
            except Exception as exc:
                if estimate:
                    self.limiter.settle(estimate, 0)  # a failed request used no tokens
                failure = self._classify(exc)
                if failure is None:
                    raise
                msg = self._scrub(failure.message)
                status = f"HTTP {failure.status}" if failure.status else failure.reason
                if failure.kind == "auth":
                    raise LLMAuthError(
                        f"{self.spec}: authentication failed ({status}): {msg}. "
                        f"Check the key in {self.key_env} (not retried).",
                        status=failure.status,
                    ) from None
                if failure.kind == "request":
                    raise LLMRequestError(
                        f"{self.spec}: request rejected ({status}): {msg}", status=failure.status
                    ) from None
                assert failure.reason is not None
                if attempt >= self.max_retries:
                    raise LLMUnavailableError(
                        f"{self.spec}: {failure.reason} ({status}): {msg}; gave up after "
                        f"{attempt + 1} attempt(s)",
                        reason=failure.reason,
                        attempts=attempt + 1,
                        status=failure.status,
                    ) from None
                delay = self.backoff.delay(attempt, self._rng, failure.retry_after_s)
                if failure.reason == "rate_limit":
                    self.limiter.pause(delay)  # every thread of this model waits it out
                    self.limiter.slow_down(started)  # and then goes on at half the rate
                log.warning(
                    "%s: %s (%s), retry %d/%d in %.2fs",
                    self.spec,
                    failure.reason,
                    status,
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                wait_or_cancel(delay)  # a stopped run does not sit out the back-off
                attempt += 1
        return LLMResponse(
            text=text,
            usage=usage or Usage(),
            cost_usd=cost_usd(self.model, usage) if usage is not None else None,
            latency_s=time.perf_counter() - start,
            cached=False,
            model=self.model,
            backend=self.backend,
            retries=attempt,
        )


def _per_process(limit: float | None, share: float) -> float | None:
    return None if limit is None else round(limit * share, 6)


def _rebuild(
    cls: type[RemoteLLM],
    model: str,
    kwargs: dict[str, Any],
    cache: tuple[str, CacheMode] | None,
) -> RemoteLLM:
    return cls(model, cache=ResponseCache(*cache) if cache else None, **kwargs)


def describe_llm(llm: Any) -> LLMInfo:
    """A key-free description of any LLM, for manifests: its own `describe()` when it has
    one, else what its `spec` says (e.g. a test double)."""
    describe = getattr(llm, "describe", None)
    if callable(describe):
        info = describe()
        if isinstance(info, LLMInfo):
            return info
    spec = str(getattr(llm, "spec", type(llm).__name__))
    backend, _, model = spec.partition(":")
    return LLMInfo(spec=spec, backend=backend or "unknown", model=model or spec)
