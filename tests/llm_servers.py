"""Loopback fake LLM servers speaking the OpenAI and Anthropic wire formats, for tests.

They let a test drive the *real* `openai` / `anthropic` SDK clients (and therefore the
whole `lbi_icl.llm` stack) without the internet:

    with OpenAIStubServer(["hello", StubReply(status=429), "world"]) as srv:
        llm = make_llm("openai:gpt-4o-mini", base_url=srv.base_url)
        ...
        assert len(srv.requests) == 3          # bodies the server received, in order

`responses` is a list (played in order; when it runs out the last entry repeats, unless
`repeat_last=False`, then the server answers 500 "stub exhausted") or a callable
`(body: dict) -> reply`. A reply is a string (the completion text), an int (an HTTP error
status), or a `StubReply` for full control (status, delay, token counts, headers).
Each server binds 127.0.0.1 on a free port in a daemon thread; leaving the `with` block (or
`.close()`) stops it, and delayed replies are woken so shutdown is immediate.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

__all__ = ["AnthropicStubServer", "OpenAIStubServer", "StubReply"]


@dataclass(frozen=True)
class StubReply:
    """One scripted server answer. `status` != 200 sends an error body in the wire format."""

    text: str = "ok"
    status: int = 200
    delay_s: float = 0.0  # sleep before answering (exercise client timeouts)
    input_tokens: int | None = None  # default: words in the request's messages
    output_tokens: int | None = None  # default: words in `text`
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = "stub error"
    omit_usage: bool = False  # send no usage block (some local servers do this)
    raw_body: bytes | None = None  # sent as is (a gateway's HTML page, JSON cut short)
    content_type: str = "application/json"
    # prompt-cache usage, in each protocol's own fields (Anthropic: cache_read_input_tokens /
    # cache_creation_input_tokens beside the uncached input_tokens; OpenAI:
    # prompt_tokens_details.cached_tokens inside prompt_tokens)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


Reply = str | int | StubReply
Responder = Sequence[Reply] | Callable[[dict[str, Any]], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _words(text: str) -> int:
    return len(text.split())


def _as_reply(reply: Reply) -> StubReply:
    if isinstance(reply, StubReply):
        return reply
    if isinstance(reply, bool):  # bool is an int; refuse the mistake loudly
        raise TypeError("a stub reply is a str, an int status or a StubReply, not a bool")
    if isinstance(reply, int):
        return StubReply(status=reply, text="")
    if isinstance(reply, str):
        return StubReply(text=reply)
    raise TypeError(f"a stub reply is a str, an int status or a StubReply, not {type(reply)}")


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # 64 client threads connect at once (the default backlog is 5)


class _StubServer:
    """Common machinery; subclasses define the path and the JSON shapes."""

    path: ClassVar[str]
    url_suffix: ClassVar[str]

    def __init__(self, responses: Responder = ("ok",), *, repeat_last: bool = True) -> None:
        if not callable(responses) and len(responses) == 0:
            raise ValueError("give at least one response")
        self._responses = responses
        self._repeat_last = repeat_last
        self._lock = threading.Lock()
        self._served = 0
        self._stop = threading.Event()
        self.records: list[RecordedRequest] = []
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # --- what tests read -------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What to pass as `base_url` to the SDK / `make_llm` for this protocol."""
        return f"http://127.0.0.1:{self.port}{self.url_suffix}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """JSON bodies received on the completion path, in arrival order."""
        with self._lock:
            return [r.body for r in self.records]

    @property
    def request_headers(self) -> list[dict[str, str]]:
        with self._lock:
            return [r.headers for r in self.records]

    # --- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> _StubServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- protocol hooks ----------------------------------------------------------------
    def success_body(self, req: dict[str, Any], reply: StubReply) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, reply: StubReply) -> dict[str, Any]:
        raise NotImplementedError

    def request_words(self, req: dict[str, Any]) -> int:
        words = 0
        for m in req.get("messages", []):
            content = m.get("content", "")
            if isinstance(content, list):  # content blocks
                content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
            words += _words(str(content))
        system = req.get("system")
        if isinstance(system, str):
            words += _words(system)
        return words

    def reply_counts(self, req: dict[str, Any], reply: StubReply) -> tuple[int, int, int]:
        """(replies served so far, prompt tokens, completion tokens) for a success body:
        the reply's own counts when scripted, else words in the request / the reply text."""
        with self._lock:
            n = len(self.records)
        prompt = reply.input_tokens if reply.input_tokens is not None else self.request_words(req)
        completion = reply.output_tokens if reply.output_tokens is not None else _words(reply.text)
        return n, prompt, completion

    # --- internals -----------------------------------------------------------------------
    def _next_reply(self, body: dict[str, Any]) -> StubReply:
        if callable(self._responses):
            return _as_reply(self._responses(body))
        with self._lock:
            i = self._served
            self._served += 1
        if i < len(self._responses):
            return _as_reply(self._responses[i])
        if self._repeat_last:
            return _as_reply(self._responses[-1])
        return StubReply(status=500, error_message="stub exhausted: no scripted response left")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.path.split("?")[0] != server.path:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                with server._lock:
                    server.records.append(
                        RecordedRequest(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body
                        )
                    )
                reply = server._next_reply(body)
                if reply.delay_s and server._stop.wait(reply.delay_s):
                    return  # server shutting down
                if reply.raw_body is not None:
                    self._send_raw(reply.status, reply.raw_body, reply.content_type)
                elif reply.status == 200:
                    self._send(200, server.success_body(body, reply), reply.headers)
                else:
                    self._send(reply.status, server.error_body(reply), reply.headers)

            def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test); nothing to do

        return Handler


class OpenAIStubServer(_StubServer):
    """`POST /v1/chat/completions`; `base_url` ends in `/v1` as the OpenAI SDK expects."""

    path = "/v1/chat/completions"
    url_suffix = "/v1"

    def success_body(self, req: dict[str, Any], reply: StubReply) -> dict[str, Any]:
        n, prompt, completion = self.reply_counts(req, reply)
        out: dict[str, Any] = {
            "id": f"chatcmpl-stub-{n}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": req.get("model", "stub"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": "stop",
                }
            ],
        }
        if not reply.omit_usage:
            out["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            if reply.cache_read_tokens:
                out["usage"]["prompt_tokens_details"] = {"cached_tokens": reply.cache_read_tokens}
        return out

    def error_body(self, reply: StubReply) -> dict[str, Any]:
        kind = {401: "invalid_request_error", 429: "rate_limit_exceeded"}.get(
            reply.status, "server_error"
        )
        return {"error": {"message": reply.error_message, "type": kind, "code": None}}


class AnthropicStubServer(_StubServer):
    """`POST /v1/messages`; `base_url` is the bare origin as the Anthropic SDK expects."""

    path = "/v1/messages"
    url_suffix = ""

    def success_body(self, req: dict[str, Any], reply: StubReply) -> dict[str, Any]:
        n, prompt, completion = self.reply_counts(req, reply)
        out: dict[str, Any] = {
            "id": f"msg_stub_{n}",
            "type": "message",
            "role": "assistant",
            "model": req.get("model", "stub"),
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
        }
        out["usage"] = (
            {"input_tokens": 0, "output_tokens": 0}
            if reply.omit_usage
            else {
                "input_tokens": prompt - reply.cache_read_tokens - reply.cache_write_tokens,
                "output_tokens": completion,
                "cache_read_input_tokens": reply.cache_read_tokens,
                "cache_creation_input_tokens": reply.cache_write_tokens,
            }
        )
        return out

    def error_body(self, reply: StubReply) -> dict[str, Any]:
        kind = {
            401: "authentication_error",
            403: "permission_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.error_message}}


# Environment variables the LLM layer and the SDKs read; tests clear them so a developer's
# real keys or base URLs can never leak into (or change) a test run.
LLM_ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
)


def clear_llm_env(monkeypatch: Any) -> None:
    """Remove every LLM-related environment variable for the duration of a test."""
    for name in LLM_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
