"""`DesktopClient`: the HTTP client of an OSWorld VM server — the project's own server on
the local desktop (with its session token) or a real OSWorld VM (`server=URL`). The same
calls drive both.

It also answers to the method names of OSWorld's `PythonController` that the evaluator
getters call on `env.controller` (`get_file`, `execute_python_command`,
`get_accessibility_tree`, `get_vm_screen_size`, ...), so OSWorld's getters run against it.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

PYAUTOGUI_PREFIX = "import pyautogui; import time; pyautogui.FAILSAFE = False; {command}"


class ServerError(RuntimeError):
    """The server did not answer, or answered with an error status."""


class DesktopClient:
    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = 60.0):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if not parts.hostname or not parts.port:
            raise ValueError(f"desktop server URL needs a host and a port: {url!r}")
        self.host = parts.hostname
        self.port = parts.port
        self.url = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        self.token = token
        self.timeout_s = timeout_s
        self._http = requests.Session()
        self._http.trust_env = False  # never through a proxy: the server is local or a VM
        if token:
            self._http.auth = ("lbi", token)

    @property
    def vm_ip(self) -> str:
        """What OSWorld's code puts before ':port' (credentials included for our server)."""
        return f"lbi:{self.token}@{self.host}" if self.token else self.host

    def _request(self, method: str, path: str, *, timeout_s: float | None = None, **kw: Any) -> Any:
        try:
            r = self._http.request(
                method, self.url + path, timeout=timeout_s or self.timeout_s, **kw
            )
        except requests.RequestException as e:
            raise ServerError(f"{method} {path}: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            try:
                msg = r.json().get("message", r.text)
            except ValueError:
                msg = r.text
            raise ServerError(f"{method} {path}: HTTP {r.status_code}: {str(msg)[:300]}")
        return r

    # -- the server's endpoints --------------------------------------------------------

    def ping(self, timeout_s: float = 5.0) -> bool:
        try:
            self._request("GET", "/platform", timeout_s=timeout_s)
            return True
        except ServerError:
            return False

    def accessibility_tree(self, *, showing_only: bool = True, timeout_s: float = 60) -> str:
        q = "?showing_only=1" if showing_only else ""
        return str(self._request("GET", f"/accessibility{q}", timeout_s=timeout_s).json()["AT"])

    def screenshot(self) -> bytes:
        return bytes(self._request("GET", "/screenshot").content)

    def execute(
        self, command: list[str] | str, *, shell: bool = False, timeout_s: float = 90
    ) -> dict[str, Any]:
        body = {"command": command, "shell": shell, "timeout": timeout_s}
        return dict(self._request("POST", "/execute", json=body, timeout_s=timeout_s + 15).json())

    def run_pyautogui(self, code: str, *, timeout_s: float = 90) -> dict[str, Any]:
        """What OSWorld's PythonController sends for an agent's action."""
        cmd = ["python", "-c", PYAUTOGUI_PREFIX.format(command=code)]
        return self.execute(cmd, timeout_s=timeout_s)

    def read_file(self, path: str) -> bytes | None:
        try:
            return bytes(self._request("POST", "/file", data={"file_path": path}).content)
        except ServerError as e:
            if "HTTP 404" in str(e):
                return None
            raise

    def upload(self, path: str, data: bytes) -> None:
        files = {"file_path": (None, path), "file_data": (path.rsplit("/", 1)[-1], data)}
        self._request("POST", "/setup/upload", files=files, timeout_s=300)

    def launch(self, command: list[str] | str, *, shell: bool = False) -> None:
        self._request("POST", "/setup/launch", json={"command": command, "shell": shell})

    def open_file(self, path: str, *, timeout_s: float = 120) -> None:
        self._request("POST", "/setup/open_file", json={"path": path}, timeout_s=timeout_s)

    def window(
        self, action: str, name: str, *, strict: bool = False, by_class: bool = False
    ) -> None:
        body = {"window_name": name, "strict": strict, "by_class": by_class}
        self._request("POST", f"/setup/{action}_window", json=body)

    # -- OSWorld PythonController names (used by OSWorld's getters) ---------------------

    def get_file(self, file_path: str) -> bytes | None:
        return self.read_file(file_path)

    def execute_python_command(self, command: str) -> dict[str, Any] | None:
        try:
            return self.run_pyautogui(command)
        except ServerError as e:
            log.warning("execute_python_command failed: %s", e)
            return None

    def get_accessibility_tree(self) -> str | None:
        return self.accessibility_tree(showing_only=False)

    def get_screenshot(self) -> bytes | None:
        return self.screenshot()

    def get_terminal_output(self) -> str | None:
        return self._request("GET", "/terminal").json().get("output")

    def get_vm_platform(self) -> str:
        return str(self._request("GET", "/platform").text)

    def get_vm_screen_size(self) -> dict[str, Any]:
        return dict(self._request("POST", "/screen_size").json())

    def get_vm_window_size(self, app_class_name: str) -> dict[str, Any] | None:
        try:
            return dict(
                self._request(
                    "POST", "/window_size", data={"app_class_name": app_class_name}
                ).json()
            )
        except ServerError:
            return None

    def get_vm_desktop_path(self) -> str | None:
        return self._request("POST", "/desktop_path").json().get("desktop_path")

    def get_vm_directory_tree(self, path: str) -> dict[str, Any] | None:
        try:
            r = self._request("POST", "/list_directory", data=json.dumps({"path": path}),
                              headers={"Content-Type": "application/json"})  # fmt: skip
        except ServerError:
            return None
        return r.json().get("directory_tree")

    def get_vm_wallpaper(self) -> bytes | None:
        return None
