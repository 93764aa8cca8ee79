"""The sealed shell of the `swe` environment: agent commands and the grader's test runs run
in a bubblewrap (`bwrap`) sandbox as an unprivileged user.

Inside the sandbox the file system is a fresh tmpfs root holding only:
- the system, read-only: `/usr` (and the `/bin`, `/lib*`, `/sbin` links or folders), `/etc`;
- Python, read-only: the base interpreter's prefix, the host environment's site-packages
  (pytest comes from there) and the project's cached virtualenv;
- the workspace's checkout and its home folder, writable;
- a private `/tmp` (tmpfs, 1 GiB) and fresh `/proc`, `/dev`.
Nothing else is visible: not the task file (with its gold `patch`), not the task set's
repositories, caches or sdists, not other workspaces, not the host's home (only the Python
install under it, read-only). The network namespace is new (loopback only), as are the PID,
IPC and UTS namespaces; the sandbox dies with its parent.

Run as root, `bwrap` sets up the mounts and then `setpriv` drops to `SANDBOX_UID` with no
capabilities and no supplementary groups (the checkout is given to that user first); run as
any other user, the command keeps that (already unprivileged) user.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lbi_icl.envs.registry import EnvNotInstalledError

SANDBOX_UID = 60999  # no host account uses it; the agent's files belong to it
TMP_BYTES = 1 << 30
_SYSTEM_LINKS = ("bin", "lib", "lib32", "lib64", "libx32", "sbin")
# Variables a sandboxed command may inherit from the host; everything else (API keys, tokens,
# proxy settings, the host's Python settings) stays outside.
PASSED_ENV = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ")
STANDARD_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxUnavailableError(EnvNotInstalledError):
    """The sandbox cannot be set up on this machine (no `bwrap`, no namespaces, ...)."""


def running_as_root() -> bool:
    return os.geteuid() == 0


def python_paths() -> list[Path]:
    """What a sandboxed Python needs to see: the base interpreter's prefix and the host
    environment's site-packages (the cached virtualenvs point at them with a `.pth`)."""
    paths = [Path(sys.base_prefix)]
    paths += [Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")]
    return _outermost(p.resolve() for p in paths if p.exists())


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """Unique paths with those inside another one dropped (one bind covers them)."""
    out: list[Path] = []
    for p in sorted(set(paths), key=lambda q: len(q.parts)):
        if not any(p == q or q in p.parents for q in out):
            out.append(p)
    return out


@dataclass(frozen=True)
class Sandbox:
    """The binds of one workspace's sandbox. `readonly` and `writable` are host paths,
    mounted at the same paths inside (so paths in outputs read the same either way)."""

    readonly: tuple[Path, ...]
    writable: tuple[Path, ...]
    uid: int | None = SANDBOX_UID  # switch to this user (only when running as root)
    bwrap: str = "bwrap"  # resolved on the host's PATH (the command's own PATH is the sandbox's)

    @classmethod
    def for_paths(cls, readonly: Sequence[Path], writable: Sequence[Path]) -> Sandbox:
        ro = _outermost([*python_paths(), *(Path(p).resolve() for p in readonly)])
        rw = tuple(Path(p).resolve() for p in writable)
        uid = SANDBOX_UID if running_as_root() else None
        bwrap = shutil.which("bwrap") or "bwrap"
        return cls(readonly=tuple(ro), writable=rw, uid=uid, bwrap=bwrap)

    def argv(self, command: Sequence[str], cwd: Path | str) -> list[str]:
        """`command` wrapped: bwrap's options, then (as root) setpriv, then the command."""
        args = [
            self.bwrap,
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for name in _SYSTEM_LINKS:
            host = Path("/") / name
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                args += ["--ro-bind", str(host), str(host)]
        args += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev"]
        args += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
        made: set[Path] = {Path("/"), Path("/usr"), Path("/etc"), Path("/tmp")}
        for path, flag in [
            *((p, "--ro-bind") for p in self.readonly),
            *((p, "--bind") for p in self.writable),
        ]:
            for parent in reversed(path.parents):
                if parent not in made:  # world-traversable mount points
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(parent)
            args += [flag, str(path), str(path)]
            made.add(path)
        args += ["--chdir", str(cwd), "--"]
        if self.uid is not None:
            args += [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        return args + list(command)

    def give(self, *paths: Path) -> None:
        """Make `paths` (recursively) the sandbox user's, so the agent can write there."""
        if self.uid is None:
            return
        for top in paths:
            os.lchown(top, self.uid, self.uid)
            for dirpath, dirnames, filenames in os.walk(top):
                for name in (*dirnames, *filenames):
                    os.lchown(os.path.join(dirpath, name), self.uid, self.uid)


def sandbox_env(
    home: Path, path_prefix: Sequence[Path] = (), extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The whole environment of a sandboxed command: a few host locale variables, nothing
    else from the host, then `extra`."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(
        HOME=str(home),
        USER="agent",
        LOGNAME="agent",
        PATH=os.pathsep.join([*(str(p) for p in path_prefix), STANDARD_PATH]),
        TMPDIR="/tmp",
        SHELL="/bin/bash",
    )
    env.update(extra or {})
    return env


@functools.cache
def check_sandbox() -> None:
    """Set up a throw-away sandbox and run `true` in it; raises `SandboxUnavailableError`
    saying why (and what to do) when that fails. Cached per process."""
    missing = [tool for tool in ("bwrap", "setpriv") if shutil.which(tool) is None]
    if missing and not (missing == ["setpriv"] and not running_as_root()):
        raise SandboxUnavailableError(
            f"the swe sandbox needs {' and '.join(missing)} (Debian: apt-get install "
            "bubblewrap util-linux); or pass --env-option sandbox=off to run agent commands "
            "unsandboxed (unsafe: the agent can then read the task's gold patch and poison "
            "later episodes)"
        )
    with tempfile.TemporaryDirectory(prefix="lbi-sandbox-check-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        box = Sandbox.for_paths([], [work])
        box.give(work)
        probe = 'touch probe && [ "$(id -u)" != 0 ]'  # writable, and never root inside
        proc = subprocess.run(
            box.argv(["/bin/sh", "-c", probe], work),
            capture_output=True,
            text=True,
            env=sandbox_env(work),
            timeout=60,
            check=False,
        )
    if proc.returncode != 0:
        raise SandboxUnavailableError(
            f"the swe sandbox could not be set up (bwrap exit {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[:400]}); on a container host this usually "
            "means user namespaces are off (sysctl kernel.unprivileged_userns_clone=1) or "
            "the container forbids mounts; or pass --env-option sandbox=off (unsafe)"
        )
