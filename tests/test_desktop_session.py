"""The local desktop and its server, for real (Xvfb + AT-SPI + LibreOffice): a session starts
and stops leaving no process (also when its parent is SIGKILLed); the server answers the
requests OSWorld's own `PythonController` sends, refuses requests without the session token
and listens on 127.0.0.1 only; Calc's tree holds cells with coordinates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.desktop_setup import fail_under_ci, require_desktop

WHY = require_desktop()
pytestmark = pytest.mark.desktop


@pytest.fixture(autouse=True)
def _ci_guard() -> None:
    fail_under_ci(WHY)


@pytest.fixture(scope="module")
def desktop():  # type: ignore[no-untyped-def]
    from lbi_icl.envs.desktop.session import LocalDesktop

    d = LocalDesktop()
    d.start()
    yield d
    d.stop()
    assert d.pids() == []


def _workbook() -> bytes:
    from lbi_icl.envs.desktop.taskgen import files

    return files.xlsx({"Data": [["Name", "Score"], ["Ann", 3], ["Bob", 5]]})


def test_server_needs_the_token_and_listens_on_loopback_only(desktop) -> None:  # type: ignore[no-untyped-def]
    import requests

    assert requests.get(f"{desktop.url}/platform", timeout=10).status_code == 401
    bad = requests.get(f"{desktop.url}/platform", auth=("lbi", "x" * 32), timeout=10)
    assert bad.status_code == 401
    ok = requests.get(f"{desktop.url}/platform", auth=("lbi", desktop.token), timeout=10)
    assert ok.status_code == 200 and ok.text == "Linux"
    listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    line = next(ln for ln in listening.splitlines() if f":{desktop.port} " in ln)
    assert "127.0.0.1:" in line


def test_applications_run_unprivileged_in_a_fresh_home(desktop) -> None:  # type: ignore[no-untyped-def]
    from lbi_icl.envs.desktop.client import DesktopClient

    c = DesktopClient(desktop.url, desktop.token)
    res = c.execute(["python", "-c", "import os; print(os.getuid(), os.environ['HOME'])"])
    uid, home = res["output"].split()
    assert int(uid) != 0 and home == "/home/user"
    reg = c.read_file("/home/user/.config/libreoffice/4/user/registrymodifications.xcu")
    assert reg is not None and b"WarnAlienFormat" in reg


def test_contract_with_osworlds_python_controller(desktop) -> None:  # type: ignore[no-untyped-def]
    """The requests OSWorld's own PythonController sends (its code, unchanged), with the
    session token carried as URL credentials in `vm_ip`."""
    from desktop_env.controllers.python import PythonController

    from lbi_icl.envs.desktop.client import DesktopClient

    ours = DesktopClient(desktop.url, desktop.token)
    pc = PythonController(vm_ip=ours.vm_ip, server_port=desktop.port)
    pc.retry_times = 1
    ours.upload("/home/user/Desktop/data.xlsx", _workbook())
    assert pc.get_file("/home/user/Desktop/data.xlsx") == _workbook()
    assert pc.get_vm_screen_size() == {"width": 1920, "height": 1080}
    assert pc.get_vm_desktop_path() == "/home/user/Desktop"
    tree = pc.get_vm_directory_tree("/home/user/Desktop")
    assert [c["name"] for c in tree["children"]] == ["data.xlsx"]
    out = pc.run_bash_script("echo $((6 * 7))")
    assert out["returncode"] == 0 and out["output"].strip() == "42"
    py = pc.run_python_script("print('hi')")
    assert py["status"] == "success" and py["output"].strip() == "hi"
    res = pc.execute_python_command("print(pyautogui.size())")
    assert res["returncode"] == 0 and "1920" in res["output"]
    png = pc.get_screenshot()
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert pc.get_terminal_output() is None
    assert "<desktop-frame" in (pc.get_accessibility_tree() or "")


def test_calc_tree_holds_cells_with_coordinates(desktop) -> None:  # type: ignore[no-untyped-def]
    from lbi_icl.envs.desktop.a11y_text import nodes
    from lbi_icl.envs.desktop.client import DesktopClient

    c = DesktopClient(desktop.url, desktop.token)
    c.upload("/home/user/cells.xlsx", _workbook())
    c.open_file("/home/user/cells.xlsx")
    deadline = time.monotonic() + 60
    cells: dict[str, object] = {}
    while time.monotonic() < deadline and "B3" not in cells:
        cells = {n.name: n for n in nodes(c.accessibility_tree()) if n.tag == "table-cell"}
        time.sleep(1)
    b3 = cells["B3"]
    assert b3.text == "5" and b3.x > 0 and b3.y > 0 and b3.w > 0 and b3.h > 0  # type: ignore[attr-defined]
    c.window("close", "cells.xlsx")


def test_session_dies_with_a_killed_parent() -> None:
    code = textwrap.dedent(
        """
        import sys, time
        from lbi_icl.envs.desktop.session import LocalDesktop
        d = LocalDesktop(); d.start()
        print(d.session_id, flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        session_id = proc.stdout.readline().strip()
        from lbi_icl.envs.desktop.session import session_pids

        assert len(session_pids(session_id)) >= 5  # Xvfb, D-Bus, AT-SPI, openbox, server
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while session_pids(session_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_pids(session_id) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_start_and_stop_leave_no_process() -> None:
    from lbi_icl.envs.desktop.session import LocalDesktop

    d = LocalDesktop()
    d.start()
    assert d.alive and len(d.pids()) >= 5
    workdir = d.workdir
    d.stop()
    assert d.pids() == [] and not d.alive
    assert workdir is not None and not workdir.exists()


def test_missing_pieces_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from lbi_icl.envs.desktop import deps

    monkeypatch.setattr(deps, "DESKTOP_PYTHON", "/nonexistent/python")
    monkeypatch.setattr(deps.shutil, "which", lambda exe: None if exe == "scrot" else "/x")
    problems = deps.missing()
    assert any("scrot not found (Debian package scrot; bash .ci/setup-desktop.sh)" in p
               for p in problems)  # fmt: skip
    assert any("/nonexistent/python" in p and "setup-desktop.sh" in p for p in problems)
    with pytest.raises(deps.DesktopMissingError, match="scrot"):
        deps.resolve()
