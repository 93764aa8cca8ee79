"""A loopback stand-in for a hosted LLM provider, speaking both wire protocols on one port:
OpenAI chat completions (`POST /v1/chat/completions`) and Anthropic messages
(`POST /v1/messages`), with what makes hosted models slow and expensive:

- latency: `latency_s` + `per_input_token_s` x prompt tokens + `per_output_token_s` x answer
  tokens (sleeps, so CPU load hardly matters);
- rate limits: `server_rpm` (paced like a provider; a request over it gets 429 with a
  `Retry-After` header) and `fail_429` (that share of requests gets a 429 at random);
- prompt caching as the providers account it (tokens = characters / 4):
  - Anthropic: a prefix is cached only up to a `cache_control` breakpoint, if it holds at
    least `min_cache_tokens` (1024; 2048 for the Haiku 3 models); a request reads the
    longest cached prefix ending at a breakpoint or at one of the 20 block boundaries before
    it, writes the rest up to its last breakpoint; entries live 5 minutes, refreshed when
    read; usage: `input_tokens` (uncached) + `cache_read_input_tokens` +
    `cache_creation_input_tokens`;
  - OpenAI: automatic for prompts of 1024+ tokens, in 128-token steps, no breakpoints;
    `usage.prompt_tokens_details.cached_tokens`;
- answers: BabyAI-style `Reason: ...\\nAction: go forward|turn left|turn right`, chosen by
  a hash of the prompt (deterministic: a random walk that seldom solves a task, so episodes
  mostly run to their step limit), or a fixed `answer`.

`GET /stats` returns what it served (per request: arrival time, protocol, model, status,
tokens); `POST /reset` forgets the cache and the stats; with `keep_requests` the bodies
themselves are kept (`Provider.requests()`: where the `cache_control` markers sit). Run it
as a process (`python provider.py --port 0 ...` prints `PORT n` and serves until killed; it
dies with its parent) or in a thread (`Provider(...).start()`, tests). Standard library
only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHARS_PER_TOKEN = 4
LOOKBACK_BLOCKS = 20  # Anthropic checks this many block boundaries before a breakpoint
OPENAI_MIN, OPENAI_STEP = 1024, 128
ACTIONS = ("go forward", "go forward", "turn left", "turn right")


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass
class Settings:
    latency_s: float = 0.3
    per_input_token_s: float = 0.0
    per_output_token_s: float = 0.01
    min_cache_tokens: int | None = None  # None: the provider's own minimum per model
    ttl_s: float = 300.0
    server_rpm: float | None = None
    fail_429: float = 0.0
    retry_after_s: float = 1.0  # for fail_429 (server_rpm says how long itself)
    answer: str | None = None
    seed: int = 0
    keep_requests: bool = False  # keep every request body (`requests()`; tests, in-thread)


@dataclass
class Served:
    t: float
    protocol: str
    model: str
    status: int
    input_tokens: int = 0  # every prompt token
    cache_read: int = 0
    cache_write: int = 0
    output_tokens: int = 0
    breakpoints: int = 0
    cache_key: bool = False  # an OpenAI request carried prompt_cache_key


@dataclass
class _State:
    cache: dict[str, tuple[int, float]] = field(default_factory=dict)  # hash -> (tokens, expiry)
    served: list[Served] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # bodies (keep_requests)
    tat: float = 0.0  # server-side pacing (theoretical arrival time)


def _blocks(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """An Anthropic request as (block text, has cache_control), system first; a message's
    role tag goes before its first block only, so how a text is cut into blocks does not
    change the prompt's text or its token count."""
    out: list[tuple[str, bool]] = []
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(("<system>" + system, False))
    elif isinstance(system, list):
        out += [
            (("<system>" if i == 0 else "") + b.get("text", ""), "cache_control" in b)
            for i, b in enumerate(system)
        ]
    for m in body.get("messages", []):
        content = m.get("content", "")
        tag = f"<{m.get('role')}>"
        if isinstance(content, str):
            out.append((tag + content, False))
            continue
        for i, b in enumerate(content):
            text = b.get("text", "") if b.get("type") == "text" else "[image]" * 300
            out.append(((tag if i == 0 else "") + text, "cache_control" in b))
    return out


def prompt_text(protocol: str, body: dict[str, Any]) -> str:
    """The prompt as one text, whatever its blocks and cache markers."""
    if protocol == "anthropic":
        return "".join(text for text, _ in _blocks(body))
    return _openai_text(body)


def _openai_text(body: dict[str, Any]) -> str:
    parts = []
    for m in body.get("messages", []):
        content = m.get("content", "")
        if isinstance(content, list):
            content = "".join(
                p.get("text", "") if p.get("type") == "text" else "[image]" * 300 for p in content
            )
        parts.append(f"<{m.get('role')}>{content}")
    return "".join(parts)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 workers connect at once (the default backlog is 5)


class Provider:
    def __init__(self, settings: Settings | None = None, port: int = 0) -> None:
        self.settings = settings or Settings()
        self._lock = threading.Lock()
        self._state = _State()
        self._stop = threading.Event()
        self._rng = random.Random(self.settings.seed)
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Provider:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Provider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accounting ---------------------------------------------------------------------
    def stats(self) -> list[Served]:
        with self._lock:
            return list(self._state.served)

    def requests(self) -> list[dict[str, Any]]:
        """The request bodies served, in arrival order (only with `keep_requests`)."""
        with self._lock:
            return list(self._state.requests)

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    def _min_tokens(self, model: str, protocol: str) -> int:
        if self.settings.min_cache_tokens is not None:
            return self.settings.min_cache_tokens
        if protocol == "anthropic" and ("3-haiku" in model or "3-5-haiku" in model):
            return 2048
        return 1024

    def _hit(self, key: str, now: float) -> int | None:
        entry = self._state.cache.get(key)
        if entry is None or entry[1] < now:
            return None
        return entry[0]

    def anthropic_usage(self, body: dict[str, Any], now: float) -> tuple[int, int, int, int]:
        """(prompt tokens, cache read, cache write, breakpoints) for one request."""
        blocks = _blocks(body)
        model = str(body.get("model", ""))
        h = hashlib.sha256(model.encode())
        keys, cum, chars = [], [], 0
        for text, _ in blocks:
            h.update(b"\x00" + text.encode("utf-8", "surrogatepass"))
            keys.append(h.hexdigest())
            chars += len(text)
            cum.append(math.ceil(chars / CHARS_PER_TOKEN))
        total = cum[-1] if cum else 0
        points = [i for i, (_, cc) in enumerate(blocks) if cc][:4]
        minimum = self._min_tokens(model, "anthropic")
        with self._lock:
            read_at = -1
            for bp in points:
                for j in range(bp, max(-1, bp - LOOKBACK_BLOCKS), -1):
                    if j > read_at and self._hit(keys[j], now) is not None:
                        read_at = j
                        break
            read = cum[read_at] if read_at >= 0 else 0
            if read_at >= 0:
                self._state.cache[keys[read_at]] = (read, now + self.settings.ttl_s)
            write = 0
            for bp in points:
                if bp > read_at and cum[bp] >= minimum:
                    self._state.cache[keys[bp]] = (cum[bp], now + self.settings.ttl_s)
                    write = cum[bp] - read
        return total, read, write, len(points)

    def openai_usage(self, body: dict[str, Any], now: float) -> tuple[int, int]:
        """(prompt tokens, cached tokens) for one request."""
        text = _openai_text(body)
        model = str(body.get("model", ""))
        total = tokens(text)
        minimum = self._min_tokens(model, "openai")
        cut = OPENAI_MIN if minimum >= OPENAI_MIN else max(OPENAI_STEP, minimum)
        bounds = []
        while cut <= total:
            bounds.append(cut)
            cut += OPENAI_STEP
        h = hashlib.sha256(model.encode())
        done = 0
        keys = []
        for b in bounds:
            end = b * CHARS_PER_TOKEN
            h.update(text[done:end].encode("utf-8", "surrogatepass"))
            done = end
            keys.append(h.hexdigest())
        with self._lock:
            cached = 0
            for b, k in zip(bounds, keys, strict=True):
                if self._hit(k, now) is not None:
                    cached = b
            for b, k in zip(bounds, keys, strict=True):
                self._state.cache[k] = (b, now + self.settings.ttl_s)
        return total, cached

    def _admit(self, now: float) -> float | None:
        """None to serve now, else the seconds to tell the client to wait (429)."""
        s = self.settings
        with self._lock:
            if s.fail_429 and self._rng.random() < s.fail_429:
                return s.retry_after_s
            if not s.server_rpm:
                return None
            gap = 60.0 / s.server_rpm
            if now < self._state.tat - gap:  # one request of tolerance, as providers allow
                return self._state.tat - gap - now
            self._state.tat = max(self._state.tat, now) + gap
            return None

    def _answer(self, protocol: str, body: dict[str, Any]) -> str:
        if self.settings.answer is not None:
            return self.settings.answer
        digest = hashlib.sha256(prompt_text(protocol, body).encode("utf-8", "replace")).digest()
        return f"Reason: I keep looking around.\nAction: {ACTIONS[digest[0] % len(ACTIONS)]}"

    # -- HTTP ---------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/stats":
                    self._json(200, [asdict(s) for s in provider.stats()])
                else:
                    self._json(404, {"error": {"message": "no route"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/reset":
                    provider.reset()
                    self._json(200, {"ok": True})
                    return
                route = self.path.split("?")[0]
                protocol = {"/v1/messages": "anthropic", "/v1/chat/completions": "openai"}.get(
                    route
                )
                if protocol is None:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(raw or b"{}")
                now = time.monotonic()
                model = str(body.get("model", ""))
                wait = provider._admit(now)
                if wait is not None:
                    with provider._lock:
                        provider._state.served.append(Served(now, protocol, model, 429))
                    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
                    self._json(429, _error(protocol), headers)
                    return
                self._serve(protocol, body, now, model)

            def _serve(self, protocol: str, body: dict[str, Any], now: float, model: str) -> None:
                s = provider.settings
                text = provider._answer(protocol, body)
                out_tokens = tokens(text)
                if protocol == "anthropic":
                    total, read, write, points = provider.anthropic_usage(body, now)
                    usage: dict[str, Any] = {
                        "input_tokens": total - read - write,
                        "output_tokens": out_tokens,
                        "cache_read_input_tokens": read,
                        "cache_creation_input_tokens": write,
                    }
                    payload: dict[str, Any] = {
                        "id": f"msg_{len(provider._state.served)}",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [{"type": "text", "text": text}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": usage,
                    }
                else:
                    total, read = provider.openai_usage(body, now)
                    write, points = 0, 0
                    payload = {
                        "id": f"chatcmpl-{len(provider._state.served)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": total,
                            "completion_tokens": out_tokens,
                            "total_tokens": total + out_tokens,
                            "prompt_tokens_details": {"cached_tokens": read},
                        },
                    }
                delay = (
                    s.latency_s
                    + s.per_input_token_s * (total - read)
                    + s.per_output_token_s * out_tokens
                )
                with provider._lock:
                    if s.keep_requests:
                        provider._state.requests.append(body)
                    provider._state.served.append(
                        Served(
                            now,
                            protocol,
                            model,
                            200,
                            total,
                            read,
                            write,
                            out_tokens,
                            points,
                            "prompt_cache_key" in body,
                        )
                    )
                if provider._stop.wait(delay):
                    return
                self._json(200, payload)

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None):
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
                    pass

        return Handler


def _error(protocol: str) -> dict[str, Any]:
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    return {"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": None}}


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    for f in Settings.__dataclass_fields__.values():
        kind = {"float": float, "int": int, "str": str, "bool": _flag}.get(
            str(f.type).split(" ")[0].replace("|", "").strip(), float
        )
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default)
    args = ap.parse_args(argv)
    try:  # die with the benchmark that started us
        from lbi_icl.util.lifetime import arm_parent_death_signal

        arm_parent_death_signal()
    except ImportError:
        pass
    values = {k: getattr(args, k) for k in Settings.__dataclass_fields__}
    provider = Provider(Settings(**values), args.port)
    print(f"PORT {provider.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        provider._httpd.serve_forever(poll_interval=0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
