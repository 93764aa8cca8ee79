"""What the server's endpoints do on the desktop: run commands, take screenshots, find and
raise windows, open files. stdlib only; every command runs in its own process group and is
killed with it when it runs past its time limit."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

OFFICE_SUFFIXES = {
    ".xlsx", ".xls", ".ods", ".csv", ".docx", ".doc", ".odt", ".rtf", ".pptx", ".ppt",
    ".odp", ".txt",
}  # fmt: skip


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(command: Any, *, shell: bool, timeout: float, cwd: str | None = None) -> dict[str, Any]:
    """Run to completion: {status, output, error, returncode} (OSWorld's /execute answer)."""
    if isinstance(command, str) and not shell:
        command = shlex.split(command)
    proc = subprocess.Popen(
        command,
        shell=shell,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd or os.environ.get("HOME"),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return {
            "status": "error",
            "output": out,
            "error": (err or "") + f"\ntimed out after {timeout:g} s",
            "returncode": -1,
        }
    return {"status": "success", "output": out, "error": err, "returncode": proc.returncode}


def launch(command: Any, *, shell: bool) -> int:
    """Start without waiting (OSWorld's /setup/launch); returns the pid."""
    if isinstance(command, str) and not shell:
        command = shlex.split(command)
    proc = subprocess.Popen(
        command,
        shell=shell,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=os.environ.get("HOME"),
        start_new_session=True,
    )
    return proc.pid


def screenshot() -> bytes:
    """The screen with the pointer, as PNG bytes."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("XDG_RUNTIME_DIR")) as tmp:
        path = Path(tmp) / "shot.png"
        res = run(["scrot", "-o", "-p", str(path)], shell=False, timeout=30)
        if res["returncode"] != 0 or not path.exists():
            raise RuntimeError(f"scrot failed: {res['error'].strip()}")
        return path.read_bytes()


def windows() -> list[dict[str, str]]:
    """Top-level windows: id, class (`instance.Class`) and title (wmctrl -lx)."""
    res = run(["wmctrl", "-lx"], shell=False, timeout=10)
    out = []
    for line in res["output"].splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4:
            title = parts[4] if len(parts) == 5 else ""
            out.append({"id": parts[0], "class": parts[2], "title": title})
    return out


def find_window(name: str, *, strict: bool, by_class: bool) -> dict[str, str] | None:
    for w in windows():
        value = w["class"] if by_class else w["title"]
        if by_class and not strict:
            hit = name.lower() in value.lower()
        elif strict:
            hit = value == name or (by_class and value.split(".")[-1] == name)
        else:
            hit = name.lower() in value.lower()
        if hit:
            return w
    return None


def activate(name: str, *, strict: bool, by_class: bool) -> bool:
    w = find_window(name, strict=strict, by_class=by_class)
    if w is None:
        return False
    run(["wmctrl", "-i", "-a", w["id"]], shell=False, timeout=10)
    return True


def close(name: str, *, strict: bool, by_class: bool) -> bool:
    w = find_window(name, strict=strict, by_class=by_class)
    if w is None:
        return False
    run(["wmctrl", "-i", "-c", w["id"]], shell=False, timeout=10)
    return True


def window_size(app_class: str) -> dict[str, int] | None:
    w = find_window(app_class, strict=False, by_class=True)
    if w is None:
        return None
    res = run(["xdotool", "getwindowgeometry", str(int(w["id"], 16))], shell=False, timeout=10)
    for line in res["output"].splitlines():
        if "Geometry:" in line:
            width, height = line.split("Geometry:")[1].strip().split("x")
            return {"width": int(width), "height": int(height)}
    return None


def open_file(path: str, *, timeout: float) -> None:
    """Open `path` in its application and wait until a window titled with its name shows."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(path)
    if p.suffix.lower() in OFFICE_SUFFIXES:
        launch(["soffice", "--norestore", str(p)], shell=False)
    else:
        launch(["xdg-open", str(p)], shell=False)
    deadline = time.monotonic() + timeout
    stem = p.name
    while time.monotonic() < deadline:
        if any(stem in w["title"] for w in windows()):
            return
        time.sleep(0.3)
    raise TimeoutError(f"no window for {path} after {timeout:g} s")


def list_directory(path: str) -> dict[str, Any]:
    def walk(p: Path) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "directory" if p.is_dir() else "file", "name": p.name}
        if p.is_dir():
            node["children"] = [walk(c) for c in sorted(p.iterdir())]
        return node

    return walk(Path(path))
