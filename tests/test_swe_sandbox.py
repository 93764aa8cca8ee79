"""The swe sandbox on its own (no task set): what a sandboxed command can see and write, who
it runs as, its network, its lifetime, and what happens where no sandbox can be made."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from swe_setup import require_sandbox

from lbi_icl.envs import make_env
from lbi_icl.envs.swe import sandbox as sandbox_mod
from lbi_icl.envs.swe.sandbox import SANDBOX_UID, Sandbox, SandboxUnavailableError
from lbi_icl.envs.swe.shell import run_shell
from lbi_icl.envs.swe.workspace import ensure_venv, shell_environment

pytestmark = [pytest.mark.swe]


@pytest.fixture
def box(tmp_path) -> tuple[Sandbox, Path, dict[str, str]]:
    require_sandbox()
    work, home, ro = tmp_path / "work", tmp_path / "home", tmp_path / "ro"
    for d in (work, home, ro):
        d.mkdir()
    (ro / "data.txt").write_text("read me\n")
    (tmp_path / "secret.txt").write_text("gold patch\n")
    venv = ensure_venv(tmp_path / "cache", "proj")
    sb = Sandbox.for_paths([venv, ro], [work, home])
    sb.give(work, home)
    env = shell_environment(venv, [str(work)], home, sandboxed=True)
    return sb, work, env


def _sh(box, command: str, **kw) -> tuple[int, str]:
    sb, work, env = box
    res = run_shell(command, work, env=env, sandbox=sb, **kw)
    return res.exit_code, res.output


def test_writable_readonly_and_invisible_paths(box, tmp_path):
    assert _sh(box, "echo hi > f && cat f") == (0, "hi\n")
    assert _sh(box, "echo hi > /tmp/x && cat /tmp/x") == (0, "hi\n")  # private scratch
    assert _sh(box, f"cat {tmp_path / 'ro' / 'data.txt'}") == (0, "read me\n")
    code, out = _sh(box, f"touch {tmp_path / 'ro' / 'new'}")
    assert code == 1 and "Read-only file system" in out
    code, out = _sh(box, f"cat {tmp_path / 'secret.txt'}")
    assert code == 1 and "No such file or directory" in out
    code, out = _sh(box, f"touch {tmp_path / 'cache'}/other")  # the venv's parent: a stub
    assert code == 1
    assert not (tmp_path / "cache" / "other").exists()
    # the host's home holds only what Python needs, read-only
    home = Path.home()
    code, out = _sh(box, f"ls -A {home} 2>/dev/null")
    allowed = {
        p.relative_to(home).parts[0] for p in sandbox_mod.python_paths() if home in p.parents
    }
    assert set(out.split()) <= allowed
    # system folders are read-only too
    assert _sh(box, "touch /usr/x /etc/x 2>&1; echo $?")[1].strip().endswith("1")


def test_runs_unprivileged_without_network(box):
    uid = SANDBOX_UID if os.geteuid() == 0 else os.getuid()
    assert _sh(box, "id -u") == (0, f"{uid}\n")
    assert _sh(box, "grep CapEff /proc/self/status")[1].split() == ["CapEff:", "0000000000000000"]
    # a server on the host's loopback is out of reach; the sandbox has its own loopback
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        py = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
        code, out = _sh(box, f'python -c "{py}"')
        assert code == 1 and "Connection refused" in out
        inner = (
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); "
            "socket.create_connection(s.getsockname(), timeout=3); print('ok')"
        )
        assert _sh(box, f'python -c "{inner}"') == (0, "ok\n")
    finally:
        server.close()


def test_only_its_own_processes_and_they_die_with_it(box):
    code, out = _sh(box, "ps -e -o pid= | wc -l")
    assert code == 0 and int(out) <= 4  # bwrap's init, bash, ps, wc
    start = time.monotonic()
    code, out = _sh(box, "sleep 60 & echo started", timeout_s=20)
    assert (code, out) == (0, "started\n") and time.monotonic() - start < 10
    code, out = _sh(box, "sleep 60", timeout_s=1)
    assert code == 124 and "timed out" in out
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "^sleep 60$"], capture_output=True, text=True)
    assert left.stdout.strip() == ""


def test_python_and_pytest_work_inside(box):
    code, out = _sh(box, "python -c 'import pytest, sys; print(sys.prefix)'")
    assert code == 0 and "/cache/venvs/proj-py" in out
    _sh(box, "printf 'def test_a():\\n    assert 1\\n' > test_x.py")
    code, out = _sh(box, "python -m pytest -q -p no:cacheprovider test_x.py")
    assert code == 0 and "1 passed" in out


def test_no_sandbox_no_start_unless_turned_off(monkeypatch, tmp_path, caplog):
    real_which = shutil.which
    sandbox_mod.check_sandbox.cache_clear()
    try:
        with monkeypatch.context() as m:
            m.setattr(shutil, "which", lambda n: None if n == "bwrap" else real_which(n))
            with pytest.raises(SandboxUnavailableError, match=r"needs bwrap .*sandbox=off"):
                make_env("swe")
            with caplog.at_level("WARNING"):
                env = make_env("swe", sandbox="off")
            assert "sandbox=off" in caplog.text
            assert env.run_notes()[0].startswith("WARNING sandbox=off")
            with pytest.raises(ValueError, match="sandbox must be 'on' or 'off'"):
                make_env("swe", sandbox="maybe")
        sandbox_mod.check_sandbox.cache_clear()
        # a sandbox that cannot start (bwrap replaced by a failing program) is named too
        fake = tmp_path / "bin"
        fake.mkdir()
        why = "bwrap: No permissions to create new namespace"
        (fake / "bwrap").write_text(f"#!/bin/sh\necho '{why}' >&2\nexit 1\n")
        (fake / "bwrap").chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
        with pytest.raises(SandboxUnavailableError, match=why):
            sandbox_mod.check_sandbox()
    finally:
        sandbox_mod.check_sandbox.cache_clear()


def test_outside_the_sandbox_the_shell_gets_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-do-not-leak")
    venv = ensure_venv(tmp_path / "cache", "proj")
    env = shell_environment(venv, [str(tmp_path)], tmp_path / "home")
    out = run_shell("env", tmp_path, env=env).output
    assert "do-not-leak" not in out and f"VIRTUAL_ENV={venv}" in out


def test_killing_the_runner_kills_the_sandbox(box):
    """The sandbox dies with its parent: a killed `bwrap` leaves no sandboxed process."""
    sb, work, env = box
    proc = subprocess.Popen(sb.argv(["bash", "-c", "sleep 77 & sleep 78"], work), env=env)
    threading.Event().wait(1.0)
    proc.kill()
    proc.wait()
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", "^sleep 7[78]$"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
    assert sys.platform.startswith("linux")
