"""On-disk response cache (SQLite, WAL) shared safely by threads and processes.

The key is the sha256 of the canonical JSON of (backend, model, messages, generation
params), so an identical request gets the identical answer — which is what makes an old
run exactly re-playable (`mode="replay"`: a miss is a `CacheMissError`, nothing is sent).
Nothing secret is stored: no keys, no headers, no base URL.

Note: with the cache on, repeating a request returns the same text even at temperature > 0;
to draw several samples, vary `GenerationParams.seed`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from lbi_icl.llm.base import GenerationParams, Message, Usage
from lbi_icl.llm.errors import LLMConfigError

log = logging.getLogger(__name__)

CacheMode = Literal["rw", "off", "replay"]
CACHE_MODES: tuple[CacheMode, ...] = ("rw", "off", "replay")
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL,
    latency_s REAL NOT NULL,
    created_at REAL NOT NULL
)
"""


class CachedResponse(BaseModel):
    """What the cache keeps of one answer (enough to rebuild an `LLMResponse`)."""

    text: str
    usage: Usage
    cost_usd: float | None
    latency_s: float
    backend: str
    model: str


def request_json(
    backend: str, model: str, messages: list[Message], params: GenerationParams
) -> str:
    """Canonical JSON of everything that determines an answer (sorted keys, no spaces)."""
    payload = {
        "backend": backend,
        "model": model,
        "messages": [m.model_dump(mode="json") for m in messages],
        "params": params.model_dump(mode="json"),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cache_key(backend: str, model: str, messages: list[Message], params: GenerationParams) -> str:
    return hashlib.sha256(request_json(backend, model, messages, params).encode()).hexdigest()


class ResponseCache:
    """SQLite-backed response store. One connection per thread; WAL lets readers and one
    writer work at once, and `busy_timeout` makes concurrent writers wait instead of fail."""

    def __init__(self, path: str | Path, mode: CacheMode = "rw") -> None:
        if mode not in CACHE_MODES:
            raise LLMConfigError(f"cache mode must be one of {CACHE_MODES}, got {mode!r}")
        self.path = Path(path)
        self.mode: CacheMode = mode
        self._local = threading.local()
        self._conns: list[tuple[int, sqlite3.Connection]] = []
        self._conns_lock = threading.Lock()
        if mode == "off":
            return
        if mode == "replay" and not self.path.exists():
            raise LLMConfigError(
                f"cache file {self.path} does not exist; replay mode needs a cache from an "
                "earlier run (use cache mode 'rw' to record one)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    # --- connections ----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            conn = None  # inherited through fork: SQLite connections must not cross processes
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=60.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA busy_timeout=60000")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise LLMConfigError(f"{self.path} is not a usable LLM cache: {exc}") from None
            self._local.conn = conn
            self._local.pid = os.getpid()
            with self._conns_lock:
                self._conns.append((os.getpid(), conn))
        return conn

    def _init_schema(self) -> None:
        conn = self._conn()
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("LLM cache %s: could not enable WAL (journal_mode=%s)", self.path, mode)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise LLMConfigError(
                    f"LLM cache {self.path} has schema version {version}; this lbi_icl "
                    f"reads version {_SCHEMA_VERSION}"
                )
            conn.execute(_SCHEMA)
            if version == 0:
                conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise LLMConfigError(f"{self.path} is not a usable LLM cache: {exc}") from exc

    def close(self) -> None:
        """Close every thread's connection (call once no thread uses the cache any more)."""
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for pid, conn in conns:
            if pid == os.getpid():  # a forked child leaves its parent's connections alone
                conn.close()
        self._local = threading.local()

    # --- reads and writes ---------------------------------------------------------------
    @property
    def readable(self) -> bool:
        return self.mode in ("rw", "replay")

    @property
    def writable(self) -> bool:
        return self.mode == "rw"

    def get(self, key: str) -> CachedResponse | None:
        if not self.readable:
            return None
        row = (
            self._conn()
            .execute(
                "SELECT text, input_tokens, output_tokens, cost_usd, latency_s, backend, model "
                "FROM responses WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        if row is None:
            return None
        text, tin, tout, cost, latency, backend, model = row
        return CachedResponse(
            text=text,
            usage=Usage(input_tokens=tin, output_tokens=tout),
            cost_usd=cost,
            latency_s=latency,
            backend=backend,
            model=model,
        )

    def put(self, key: str, request: str, entry: CachedResponse) -> None:
        """Store an answer; the first answer stored for a key wins (stable across processes)."""
        if not self.writable:
            return
        self._conn().execute(
            "INSERT OR IGNORE INTO responses (key, backend, model, request, text, input_tokens, "
            "output_tokens, cost_usd, latency_s, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                entry.backend,
                entry.model,
                request,
                entry.text,
                entry.usage.input_tokens,
                entry.usage.output_tokens,
                entry.cost_usd,
                entry.latency_s,
                time.time(),
            ),
        )

    def __len__(self) -> int:
        if self.mode == "off":
            return 0
        return int(self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0])
