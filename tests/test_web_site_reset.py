"""WebArena full site resets between tasks (issue 26 item 6), by BrowserGym's mechanism,
against a loopback reset server: `GET /reset`, then `/status` polled until "Ready for
duty!", then the sites probed again; every task or only the first; a refused reset is one
clear error. No browser."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from lbi_icl.envs.base import EnvError
from lbi_icl.envs.browsergym.site_reset import READY, reset_sites
from lbi_icl.envs.browsergym.webarena import WebArenaEnv


class ResetServer:
    """A reset server and a site in one: /reset, /status (busy `busy` times, then ready),
    anything else 200."""

    def __init__(self, busy: int = 2, reset_status: int = 200) -> None:
        self.calls: list[str] = []
        self.busy, self.reset_status, self._left = busy, reset_status, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.calls.append(self.path)
                status, body = 200, "site"
                if self.path == "/reset":
                    status, body = outer.reset_status, "reset"
                    outer._left = outer.busy
                elif self.path == "/status":
                    body = "Resetting..." if outer._left > 0 else READY
                    outer._left -= 1
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ResetServer()
    yield srv
    srv.close()


def _env(tmp_path, srv: ResetServer, **options) -> WebArenaEnv:
    cfgs = [
        {
            "task_id": i,
            "intent": f"task {i}",
            "start_url": f"{srv.url}/page{i}",
            "sites": ["shopping"],
            "eval": {"eval_types": ["string_match"], "reference_answers": {"exact_match": "x"}},
        }
        for i in (1, 2, 3)
    ]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(cfgs))
    return WebArenaEnv(task_configs=path, reset_poll_s=0.01, **options)


def test_every_task_gets_a_full_reset_when_the_reset_url_is_set(tmp_path, monkeypatch, server):
    monkeypatch.setenv("WA_FULL_RESET", server.url)
    env = _env(tmp_path, server)
    assert env.site_reset == "every"
    for task in env.tasks("test"):
        env.before_reset(task)
    assert env.site_resets == 3
    assert server.calls.count("/reset") == 3 and server.calls.count("/status") == 3 * 3
    # the sites (the start URLs' hosts) are probed again after each reset
    resets = [i for i, c in enumerate(server.calls) if c == "/reset"]
    assert all("/" in server.calls[i:] for i in resets) and server.calls[-1] == "/"
    assert env.run_notes()[-1] == "full site reset before every task (WA_FULL_RESET / reset_url)"


def test_start_resets_once_and_off_never(tmp_path, monkeypatch, server):
    monkeypatch.delenv("WA_FULL_RESET", raising=False)
    assert _env(tmp_path, server).site_reset == "off"
    env = _env(tmp_path, server, site_reset="start", reset_url=server.url)
    for task in env.tasks("test"):
        env.before_reset(task)
    assert server.calls.count("/reset") == 1
    off = _env(tmp_path, server, site_reset="off", reset_url=server.url)
    off.before_reset(off.tasks("test")[0])
    assert server.calls.count("/reset") == 1
    with pytest.raises(ValueError, match="needs the instance's reset URL: set WA_FULL_RESET"):
        _env(tmp_path, server, site_reset="every")
    with pytest.raises(ValueError, match="site_reset='always'"):
        _env(tmp_path, server, site_reset="always", reset_url=server.url)


def test_a_refused_or_endless_reset_is_one_clear_error(tmp_path):
    bad = ResetServer(reset_status=500)
    slow = ResetServer(busy=10**6)
    try:
        with pytest.raises(EnvError, match=r"GET .*/reset answered 500"):
            reset_sites(bad.url, poll_s=0.01)
        with pytest.raises(EnvError, match=r"not ready after 0\.2s"):
            reset_sites(slow.url, poll_s=0.05, timeout_s=0.2)
    finally:
        bad.close()
        slow.close()
    with pytest.raises(EnvError, match="not reachable"):
        reset_sites("http://127.0.0.1:9", poll_s=0.01)
