"""What the local desktop needs from the machine, and one clear line for each missing piece
(the Debian package, or the set-up script that installs it)."""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

SETUP = "bash .ci/setup-desktop.sh"
DESKTOP_USER = os.environ.get("LBI_DESKTOP_USER", "lbi-desktop")
DESKTOP_PYTHON = os.environ.get("LBI_DESKTOP_PYTHON", "/opt/lbi-desktop/bin/python")
ATSPI_LAUNCHERS = ("/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher")

# executable -> Debian package
EXECUTABLES = {
    "Xvfb": "xvfb",
    "xauth": "xauth",
    "dbus-daemon": "dbus",
    "openbox": "openbox",
    "wmctrl": "wmctrl",
    "xdotool": "xdotool",
    "scrot": "scrot",
    "soffice": "libreoffice-calc / libreoffice-writer / libreoffice-impress",
    "unshare": "util-linux",
    "mount": "mount",
}


class DesktopMissingError(RuntimeError):
    """The local desktop cannot start here; the message names each missing piece."""


@dataclass(frozen=True)
class DesktopDeps:
    python: str
    atspi_launcher: str
    uid: int
    gid: int
    user: str


def missing() -> list[str]:
    """One line per missing piece of the local desktop (empty when all is there)."""
    out = [
        f"{exe} not found (Debian package {pkg}; {SETUP})"
        for exe, pkg in EXECUTABLES.items()
        if shutil.which(exe) is None
    ]
    if not any(Path(p).exists() for p in ATSPI_LAUNCHERS):
        out.append(f"at-spi-bus-launcher not found (Debian package at-spi2-core; {SETUP})")
    if not Path("/usr/lib/libreoffice/program/libvclplug_gtk3lo.so").exists():
        out.append(f"LibreOffice's GTK3 plug-in not found (libreoffice-gtk3; {SETUP})")
    if not Path(DESKTOP_PYTHON).exists():
        out.append(
            f"the desktop's Python {DESKTOP_PYTHON} (pyautogui + python3-pyatspi) is missing "
            f"({SETUP}, or set LBI_DESKTOP_PYTHON)"
        )
    try:
        pwd.getpwnam(DESKTOP_USER)
    except KeyError:
        out.append(f"user {DESKTOP_USER!r} that runs the applications is missing ({SETUP})")
    if os.geteuid() != 0:
        out.append(
            "the local desktop makes PID and mount namespaces and needs root (CI runs as "
            "root); without it point the env at a desktop server: --env-option server=URL"
        )
    return out


def resolve() -> DesktopDeps:
    problems = missing()
    if problems:
        raise DesktopMissingError("the local desktop cannot start: " + "; ".join(problems))
    entry = pwd.getpwnam(DESKTOP_USER)
    launcher = next(p for p in ATSPI_LAUNCHERS if Path(p).exists())
    return DesktopDeps(DESKTOP_PYTHON, launcher, entry.pw_uid, entry.pw_gid, DESKTOP_USER)
