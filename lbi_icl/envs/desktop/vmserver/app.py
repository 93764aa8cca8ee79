"""The HTTP API: the subset of an OSWorld VM's endpoints that OSWorld's `PythonController`,
`SetupController` and evaluator getters call, with the same request and answer shapes.

Every request must carry the session token: `Authorization: Basic` with the token as the
password (what `requests` sends for `http://lbi:TOKEN@127.0.0.1:PORT/...`, so OSWorld's own
controllers work unchanged with `vm_ip="lbi:TOKEN@127.0.0.1"`) or `X-LBI-Token: TOKEN`.
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hmac
import json
import logging
import os
import platform
import subprocess
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import ops

log = logging.getLogger("lbi_vmserver")

EXEC_TIMEOUT_S = 120.0
OPEN_TIMEOUT_S = float(os.environ.get("LBI_OPEN_TIMEOUT_S", "90"))


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "lbi-vmserver/1"
    token: str = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # -- plumbing ------------------------------------------------------------------------

    def _authorized(self) -> bool:
        given = self.headers.get("X-LBI-Token", "")
        auth = self.headers.get("Authorization", "")
        if not given and auth.startswith("Basic "):
            try:
                given = base64.b64decode(auth[6:]).decode().partition(":")[2]
            except Exception:
                given = ""
        return bool(self.token) and hmac.compare_digest(given, self.token)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _args(self, body: bytes) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            return {k: v for k, v in _multipart(ctype, body).items()}
        if "json" in ctype or body[:1] in (b"{", b"["):
            try:
                data = json.loads(body or b"{}")
            except json.JSONDecodeError as e:
                raise ApiError(400, f"invalid JSON: {e}") from e
            return data if isinstance(data, dict) else {}
        return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}

    def _send(self, status: int, payload: Any, ctype: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        body = self._body()
        if not self._authorized():
            self._send(401, {"status": "error", "message": "missing or wrong session token"})
            return
        route = ROUTES.get((method, path))
        if route is None:
            self._send(404, {"status": "error", "message": f"no endpoint {method} {path}"})
            return
        try:
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            args = self._args(body) if method == "POST" else query
            result = route(args)
        except ApiError as e:
            self._send(e.status, {"status": "error", "message": str(e)})
            return
        except FileNotFoundError as e:
            self._send(404, {"status": "error", "message": f"not found: {e}"})
            return
        except Exception as e:
            log.warning("%s %s failed: %s", method, path, traceback.format_exc())
            self._send(500, {"status": "error", "message": f"{type(e).__name__}: {e}"})
            return
        if isinstance(result, tuple):
            self._send(200, result[0], result[1])
        else:
            self._send(200, result)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


# -- endpoints -------------------------------------------------------------------------


def _need(args: dict[str, Any], key: str) -> Any:
    if key not in args or args[key] in (None, ""):
        raise ApiError(400, f"missing field {key!r}")
    return args[key]


def _text(value: Any) -> str:
    if isinstance(value, tuple):  # a multipart field: (filename, bytes)
        return value[1].decode()
    return str(value)


def screenshot(_: dict[str, Any]) -> Any:
    return ops.screenshot(), "image/png"


def accessibility(args: dict[str, Any]) -> Any:
    from . import a11y

    try:
        xml = a11y.tree_xml(showing_only=str(args.get("showing_only")) in ("1", "true"))
    except a11y.NotResponding as e:
        raise ApiError(503, str(e)) from e
    return {"AT": xml}


def terminal(_: dict[str, Any]) -> Any:
    try:
        from . import a11y

        return {"output": a11y.terminal_text()}
    except Exception:
        return {"output": None}


def get_file(args: dict[str, Any]) -> Any:
    path = Path(_text(_need(args, "file_path")))
    if not path.is_file():
        raise FileNotFoundError(str(path))
    return path.read_bytes(), "application/octet-stream"


def execute(args: dict[str, Any]) -> Any:
    command = _need(args, "command")
    timeout = float(args.get("timeout") or EXEC_TIMEOUT_S)
    return ops.run(command, shell=bool(args.get("shell", False)), timeout=timeout)


def run_python(args: dict[str, Any]) -> Any:
    res = ops.run([sys.executable, "-c", str(_need(args, "code"))], shell=False, timeout=90)
    ok = res["returncode"] == 0
    return {
        "status": "success" if ok else "error",
        "message": "executed" if ok else "failed",
        "output": res["output"],
        "error": res["error"],
        "return_code": res["returncode"],
    }


def run_bash_script(args: dict[str, Any]) -> Any:
    timeout = float(args.get("timeout") or 30)
    res = ops.run(
        ["bash", "-c", str(_need(args, "script"))],
        shell=False,
        timeout=timeout,
        cwd=args.get("working_dir") or None,
    )
    res["status"] = "success" if res["returncode"] == 0 else "error"
    return res


def launch(args: dict[str, Any]) -> Any:
    command = _need(args, "command")
    pid = ops.launch(command, shell=bool(args.get("shell", False)))
    return {"status": "success", "message": f"{command} launched successfully", "pid": pid}


def open_file(args: dict[str, Any]) -> Any:
    path = str(_need(args, "path"))
    try:
        ops.open_file(path, timeout=OPEN_TIMEOUT_S)
    except TimeoutError as e:
        raise ApiError(500, str(e)) from e
    return {"status": "success", "message": f"{path} opened successfully"}


def upload(args: dict[str, Any]) -> Any:
    path = Path(_text(_need(args, "file_path")))
    data = args.get("file_data")
    if not isinstance(data, tuple):
        raise ApiError(400, "missing file part 'file_data'")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data[1])
    os.replace(tmp, path)
    return {"status": "success", "message": f"saved {path}"}


def _window_args(args: dict[str, Any]) -> tuple[str, bool, bool]:
    strict = str(args.get("strict", False)).lower() in ("true", "1")
    by_class = str(args.get("by_class", False)).lower() in ("true", "1")
    return str(_need(args, "window_name")), strict, by_class


def activate_window(args: dict[str, Any]) -> Any:
    name, strict, by_class = _window_args(args)
    if not ops.activate(name, strict=strict, by_class=by_class):
        raise ApiError(404, f"no window {name!r}")
    return {"status": "success", "message": f"window {name!r} activated"}


def close_window(args: dict[str, Any]) -> Any:
    name, strict, by_class = _window_args(args)
    if not ops.close(name, strict=strict, by_class=by_class):
        raise ApiError(404, f"no window {name!r}")
    return {"status": "success", "message": f"window {name!r} closed"}


def screen_size(_: dict[str, Any]) -> Any:
    res = ops.run(["xdotool", "getdisplaygeometry"], shell=False, timeout=10)
    width, height = res["output"].split()
    return {"width": int(width), "height": int(height)}


def window_size(args: dict[str, Any]) -> Any:
    size = ops.window_size(str(_need(args, "app_class_name")))
    if size is None:
        raise ApiError(404, "no such window")
    return size


def desktop_path(_: dict[str, Any]) -> Any:
    return {"desktop_path": str(Path(os.environ.get("HOME", "/home/user")) / "Desktop")}


def list_directory(args: dict[str, Any]) -> Any:
    path = str(_need(args, "path"))
    if not Path(path).is_dir():
        raise FileNotFoundError(path)
    return {"directory_tree": ops.list_directory(path)}


def cursor_position(_: dict[str, Any]) -> Any:
    out = subprocess.run(
        ["xdotool", "getmouselocation", "--shell"], capture_output=True, text=True, timeout=10
    ).stdout
    pos = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return [int(pos.get("X", 0)), int(pos.get("Y", 0))]


def no_network(_: dict[str, Any]) -> Any:
    raise ApiError(403, "this desktop has no network: put the file in the local file cache")


def unsupported(_: dict[str, Any]) -> Any:
    raise ApiError(501, "not supported by this desktop server")


ROUTES: dict[tuple[str, str], Any] = {
    ("GET", "/screenshot"): screenshot,
    ("GET", "/accessibility"): accessibility,
    ("GET", "/terminal"): terminal,
    ("GET", "/platform"): lambda _: (platform.system().encode(), "text/plain"),
    ("GET", "/cursor_position"): cursor_position,
    ("POST", "/file"): get_file,
    ("POST", "/execute"): execute,
    ("POST", "/setup/execute"): execute,
    ("POST", "/run_python"): run_python,
    ("POST", "/run_bash_script"): run_bash_script,
    ("POST", "/setup/launch"): launch,
    ("POST", "/setup/open_file"): open_file,
    ("POST", "/setup/upload"): upload,
    ("POST", "/setup/activate_window"): activate_window,
    ("POST", "/setup/close_window"): close_window,
    ("POST", "/screen_size"): screen_size,
    ("POST", "/window_size"): window_size,
    ("POST", "/desktop_path"): desktop_path,
    ("POST", "/list_directory"): list_directory,
    ("POST", "/setup/download_file"): no_network,
    ("POST", "/setup/change_wallpaper"): unsupported,
    ("POST", "/wallpaper"): unsupported,
    ("POST", "/start_recording"): unsupported,
    ("POST", "/end_recording"): unsupported,
}


def serve(token: str, port: int = 0) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"token": token})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server
