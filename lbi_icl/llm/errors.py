"""Errors the LLM layer raises. Messages never contain API keys."""

from __future__ import annotations

from typing import Literal


class LLMError(RuntimeError):
    """Base class for every LLM-layer failure."""


class LLMConfigError(LLMError, ValueError):
    """The LLM was configured wrongly (bad spec, missing key, unreadable script file)."""


class LLMAuthError(LLMError):
    """The provider rejected the credentials (HTTP 401/403). Never retried."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMRequestError(LLMError):
    """The provider rejected the request itself (e.g. HTTP 400/404/422). Never retried."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# bad_response: HTTP 200 whose body is not an answer (an HTML page from a gateway, JSON cut
# short, no choices): the provider did not answer, which is not the task failing
TransientReason = Literal["rate_limit", "timeout", "server_error", "connection", "bad_response"]


class LLMUnavailableError(LLMError):
    """A transient failure (429, timeout, 5xx, connection) outlasted every retry."""

    def __init__(
        self,
        message: str,
        *,
        reason: TransientReason,
        attempts: int,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.attempts = attempts
        self.status = status


class CacheMissError(LLMError):
    """Replay mode asked the cache for a request it has never seen."""


class ScriptExhaustedError(LLMError):
    """A scripted LLM has no response left for this request."""
