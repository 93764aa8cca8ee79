"""PID 1 of one desktop session: `python -m lbi_icl.envs.desktop.init`, started by
`session.LocalDesktop` under `unshare --pid --mount --fork --kill-child`.

Runs as root inside fresh PID and mount namespaces, so when it exits (its parent died, the
session was stopped, a core process died) the kernel kills every process of the session,
and the session's private `/tmp` and `/home` vanish with the mount namespace. It:

1. mounts a tmpfs on `/tmp` and `/home`, makes `/home/user` (the HOME OSWorld's task files
   assume) from the template and hands it to the desktop user;
2. starts, as that unprivileged user: Xvfb (no TCP, no abstract socket), a session D-Bus,
   the AT-SPI bus, openbox, and the OSWorld-compatible server (token on its stdin);
3. prints one JSON line with the server's port, then reaps children until stdin closes.

Reads its config (`InitConfig` fields as JSON) from the first line of stdin.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUN_DIR = "/tmp/.lbi-run"
SERVER_DIR = "/tmp/.lbi-server"


def _mount_private(cfg: dict[str, Any], uid: int, gid: int) -> None:
    """Private /tmp and /home; the server code and the HOME template are copied in through
    directory descriptors opened before the mounts hide their host paths."""
    fds = {
        k: os.open(cfg[k], os.O_RDONLY | os.O_DIRECTORY) for k in ("server_dir", "home_template")
    }
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", "/tmp"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/home"], check=True)
    shutil.copytree(f"/proc/self/fd/{fds['server_dir']}", SERVER_DIR)
    home = Path("/home/user")
    shutil.copytree(f"/proc/self/fd/{fds['home_template']}", home, symlinks=True)
    for fd in fds.values():
        os.close(fd)
    for d in ("Desktop", "Documents", "Downloads"):
        (home / d).mkdir(exist_ok=True)
    for root, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, gid)
    os.chown(home, uid, gid)
    os.makedirs("/tmp/.X11-unix", mode=0o1777, exist_ok=True)
    os.chmod("/tmp/.X11-unix", 0o1777)
    os.makedirs(RUN_DIR, mode=0o700, exist_ok=True)
    os.chown(RUN_DIR, uid, gid)


def _wait_for(path: str, proc: subprocess.Popen[Any], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:g} s")
        time.sleep(0.05)


def start(cfg: dict[str, Any], log: Any) -> tuple[int, list[subprocess.Popen[Any]]]:
    uid, gid = int(cfg["uid"]), int(cfg["gid"])
    if os.geteuid() != 0:
        raise RuntimeError("the desktop session init must run as root (it makes namespaces)")
    _mount_private(cfg, uid, gid)
    env = {
        "HOME": "/home/user",
        "USER": cfg.get("user", "user"),
        "LOGNAME": cfg.get("user", "user"),
        "PATH": f"{cfg['python_bin_dir']}:/usr/local/bin:/usr/bin:/bin",
        "DISPLAY": ":0",
        "XAUTHORITY": f"{RUN_DIR}/Xauthority",
        "XDG_RUNTIME_DIR": RUN_DIR,
        "XDG_SESSION_TYPE": "x11",
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={RUN_DIR}/bus",
        "SAL_USE_VCLPLUGIN": "gtk3",
        "GTK_THEME": "Adwaita",
        "NO_AT_BRIDGE": "0",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": "/tmp",
        "LBI_DESKTOP_SESSION": str(cfg["session_id"]),
    }
    as_user: dict[str, Any] = {"user": uid, "group": gid, "extra_groups": []}
    common: dict[str, Any] = {"env": env, "cwd": "/home/user", "stdin": subprocess.DEVNULL}
    procs: list[subprocess.Popen[Any]] = []

    def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
        opts = {**common, "stdout": log, "stderr": log, **as_user, **kw}
        proc = subprocess.Popen(argv, **opts)
        procs.append(proc)
        return proc

    cookie = os.urandom(16).hex()
    subprocess.run(
        ["xauth", "-q", "-f", env["XAUTHORITY"], "add", ":0", ".", cookie],
        env=env,
        check=True,
        **as_user,
    )
    w, h = cfg.get("screen", [1920, 1080])
    xvfb = spawn(
        [
            "Xvfb",
            ":0",
            "-screen",
            "0",
            f"{w}x{h}x24",
            "-nolisten",
            "tcp",
            "-nolisten",
            "local",
            "-auth",
            env["XAUTHORITY"],
            "-noreset",
        ]
    )
    _wait_for("/tmp/.X11-unix/X0", xvfb, "Xvfb", 20)
    dbus = spawn(["dbus-daemon", "--session", "--nofork", f"--address=unix:path={RUN_DIR}/bus"])
    _wait_for(f"{RUN_DIR}/bus", dbus, "dbus-daemon", 20)
    spawn([cfg["atspi_launcher"], "--launch-immediately"])
    spawn(["openbox", "--sm-disable"])
    server = spawn(
        [cfg["python"], "-m", "lbi_vmserver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=SERVER_DIR,
        env={**env, "PYTHONPATH": SERVER_DIR, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(cfg["token"] + "\n")
    server.stdin.close()
    ready, _, _ = select.select([server.stdout], [], [], 30)
    line = server.stdout.readline() if ready else ""
    if not line.startswith("PORT "):
        raise RuntimeError(f"server did not start (said {line.strip()!r})")
    return int(line.split()[1]), [xvfb, dbus, server]


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cfg = json.loads(sys.stdin.readline())
    with open(cfg["log_path"], "a", buffering=1) as log:
        try:
            port, core = start(cfg, log)
        except Exception as e:
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
            sys.exit(1)
        print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
        while True:  # PID 1: reap orphans; leave when stdin closes or a core process dies
            ready, _, _ = select.select([sys.stdin], [], [], 0.5)
            if ready and not sys.stdin.readline():
                return
            while True:
                try:
                    pid, _status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    pid = 0
                if pid == 0:
                    break
            dead = [p.args[0] for p in core if p.poll() is not None]
            if dead:
                log.write(f"lbi desktop init: core process {dead[0]} exited; stopping\n")
                sys.exit(3)


if __name__ == "__main__":
    main()
