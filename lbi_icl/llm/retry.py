"""Which provider failures are worth retrying, and how long to wait between attempts.

Both SDKs raise the same shapes (`APIStatusError` with `status_code`, `APITimeoutError`,
`APIConnectionError`), so one classifier serves both. The SDKs' own retries are turned off
(`max_retries=0`) so these are the only retries and every attempt is visible.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from lbi_icl.llm.errors import TransientReason

FailureKind = Literal["auth", "request", "transient"]


class BadResponseError(Exception):
    """A 200 answer that is not a completion (raised by the backends' `_send`)."""


def expect_answer(response: object, kind: type, what: str) -> None:
    """Raise `BadResponseError` unless the SDK parsed `response` into `kind` (an HTML page
    with a 200 comes back from the SDKs as a plain string)."""
    if not isinstance(response, kind):
        shown = " ".join(str(response).split())[:120]
        raise BadResponseError(f"HTTP 200 but the body is not {what}: {shown!r}")


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    status: int | None = None
    reason: TransientReason | None = None  # set for transient failures
    retry_after_s: float | None = None


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw = headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:  # an HTTP date: ignore, fall back to our own backoff
        return None


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
    return str(getattr(exc, "message", "") or exc)


def classify_status(status: int) -> tuple[FailureKind, TransientReason | None]:
    if status in (401, 403):
        return "auth", None
    if status == 429:
        return "transient", "rate_limit"
    if status == 408:
        return "transient", "timeout"
    if status in (409, 425) or status >= 500:
        return "transient", "server_error"
    return "request", None


def classify_sdk_error(exc: BaseException, sdk: ModuleType) -> Failure | None:
    """Map an `openai`/`anthropic` exception to a `Failure`; None for anything else."""
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        kind, reason = classify_status(status)
        return Failure(kind, _server_message(exc), status, reason, _retry_after(exc))
    if isinstance(exc, sdk.APITimeoutError):
        return Failure("transient", "request timed out", None, "timeout")
    if isinstance(exc, sdk.APIConnectionError):
        return Failure("transient", f"connection failed: {exc}", None, "connection")
    if isinstance(exc, BadResponseError | json.JSONDecodeError | sdk.APIResponseValidationError):
        return Failure("transient", f"unusable answer: {exc}", 200, "bad_response")
    return None


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with 'equal jitter': wait in [d/2, d], d = min(max, base * 2^n)."""

    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        d = min(self.max_s, self.base_s * (2**attempt))
        wait = d / 2 + rng.uniform(0, d / 2)
        if retry_after_s is not None:  # the server knows best, within our cap
            wait = max(wait, min(retry_after_s, self.max_s))
        return wait
