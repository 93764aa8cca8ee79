"""`lbi view --serve`: the viewer over http on 127.0.0.1 (stdlib http.server).

The run directory (or the folder of runs, for `lbi view DIR`) is the document root, so the
viewer's links to the raw step logs, trajectories and report (`../steps/...`) and the
listing's links to each run's viewer work as they do from disk. Only the loopback
interface is bound; http.server refuses paths outside the root; a request whose Host
header is not this server's own loopback address is refused (DNS rebinding: a web page
cannot make the browser read the run through a name that resolves to 127.0.0.1). Ctrl-C
stops it.
"""

from __future__ import annotations

import functools
import logging
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lbi_icl.view.build import VIEW_DIR

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the stdlib's own class attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript; charset=utf-8",
        ".jsonl": "text/plain; charset=utf-8",
        ".json": "application/json",
    }

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        host = (self.headers.get("Host") or "").strip().lower()
        return host in {f"{HOST}:{port}", f"localhost:{port}", f"[::1]:{port}"}

    def do_GET(self) -> None:
        if not self._host_ok():
            self.send_error(421, "Misdirected Request: unexpected Host header")
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if not self._host_ok():
            self.send_error(421, "Misdirected Request: unexpected Host header")
            return
        super().do_HEAD()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def make_server(run_dir: str | Path, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0: a free port) with the run directory as root."""
    root = Path(run_dir).resolve()
    if not (root / VIEW_DIR / "index.html").exists():
        raise FileNotFoundError(f"{root / VIEW_DIR}/index.html: build the viewer first")
    handler = functools.partial(_Handler, directory=str(root))
    server = ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    return server


def viewer_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}/{VIEW_DIR}/index.html"


def serve_view(run_dir: str | Path, port: int = 0) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt propagates after the socket is closed)."""
    server = make_server(run_dir, port)
    print(f"serving {viewer_url(server)} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
