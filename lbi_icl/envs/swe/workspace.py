"""A task's workspace: a git checkout of the record's repository at `base_commit` in a fresh
temporary directory, and the environment its shell commands run with.

Python environment: each project gets a virtualenv created once under the cache folder
(`<cache>/venvs/<project>-py<X.Y>`, `--without-pip`, a few ms to build) whose `.pth` file
makes the host interpreter's site-packages visible, like `--system-site-packages` does for a
base interpreter; pytest comes from there. The project itself is imported from the
workspace through `PYTHONPATH` (its `src/` folder when it has one), so an edit takes effect
at once and nothing is installed. `python`, `pip` and `pytest` on the shell's PATH are the
venv's. Nothing outside the workspace and the cache folder is written: bytecode caches
are off and git's identity is set in the workspace's own `.git/config`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from lbi_icl.envs.base import EnvError
from lbi_icl.envs.swe.records import SWEInstance

_JUNK = ("__pycache__/", "*.pyc", ".pytest_cache/", ".lbi_*")


def default_cache_dir() -> Path:
    from lbi_icl.cache_dir import cache_root

    return cache_root() / "swe"


def git(cwd: Path | str, *args: str, check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=str(cwd),
        capture_output=True,
        text=True,
        input=input,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )
    if check and proc.returncode != 0:
        raise EnvError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def project_key(repo: str) -> str:
    name = repo.rstrip("/").removesuffix(".git").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "project"


def ensure_venv(cache_dir: Path, key: str) -> Path:
    """The cached virtualenv for project `key`, built on first use (atomically)."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = cache_dir / "venvs" / f"{key}-py{ver}"
    if (target / "pyvenv.cfg").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}-"))
    try:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run(
            [base, "-m", "venv", "--without-pip", str(tmp)], check=True, capture_output=True
        )
        paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
        site = next((tmp / "lib").glob("python*/site-packages"))
        (site / "_lbi_host_site.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
        # The venv records its own path in scripts; rename keeps `bin/python` working.
        with contextlib.suppress(OSError):
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if not (target / "pyvenv.cfg").exists():
        raise EnvError(f"could not create the virtualenv {target}")
    return target


def python_path(repo_dir: Path, instance: SWEInstance) -> list[str]:
    """Import roots for the project: the record's `python_path` field, else `src/` when it
    holds packages, else the repository root."""
    extra = getattr(instance, "python_path", None)
    if isinstance(extra, list) and extra:
        return [str(repo_dir / p) for p in extra]
    src = repo_dir / "src"
    if src.is_dir() and any(p.suffix == ".py" or p.is_dir() for p in src.iterdir()):
        return [str(src), str(repo_dir)]
    return [str(repo_dir)]


def shell_environment(venv: Path, pythonpath: list[str], home: Path) -> dict[str, str]:
    """The environment shell commands run with: the venv first on PATH, the project on
    PYTHONPATH, no bytecode written, no pager, no prompts.

    HOME is `home` (the workspace's temporary folder): `bash -l` then reads the system
    profile and `home/.bash_profile`, written here to put the venv back in front of the
    PATH the system profile resets, and never the user's own profile (which may put
    other Pythons first or be slow)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTEST_ADDOPTS")
    }
    path = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    home.mkdir(parents=True, exist_ok=True)
    profile = home / ".bash_profile"
    if not profile.exists():
        profile.write_text(f"export PATH={shlex.quote(path)}\n", encoding="utf-8")
    env.update(
        HOME=str(home),
        PATH=path,
        VIRTUAL_ENV=str(venv),
        PYTHONPATH=os.pathsep.join(pythonpath),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        PAGER="cat",
        GIT_PAGER="cat",
        TERM="dumb",
        PIP_NO_INPUT="1",
    )
    return env


class Workspace:
    """A checkout at `base_commit` under a fresh temporary directory; `close()` removes it."""

    def __init__(
        self, instance: SWEInstance, source: str, *, cache_dir: Path, parent: Path | None = None
    ) -> None:
        self.instance = instance
        self.source = source
        self.cache_dir = cache_dir
        self.root = Path(tempfile.mkdtemp(prefix="lbi-swe-", dir=parent))
        self.path = self.root / "repo"
        self.venv: Path | None = None
        self._env: dict[str, str] | None = None
        self.setup_s = 0.0

    def setup(self) -> Workspace:
        start = time.perf_counter()
        inst = self.instance
        local = not self.source.startswith(("https://", "http://", "git@"))
        try:
            if local:
                self._attach_local()
            else:
                git(self.root, "clone", "--quiet", "--no-checkout", self.source, str(self.path))
                if git(self.path, "cat-file", "-t", inst.base_commit, check=False).strip() != (
                    "commit"
                ):
                    git(self.path, "fetch", "--quiet", "origin", inst.base_commit, check=False)
            git(self.path, "checkout", "--quiet", "--detach", inst.base_commit)
        except EnvError as e:
            raise EnvError(f"instance {inst.instance_id}: workspace set-up failed: {e}") from e
        git(self.path, "config", "user.name", "lbi agent")
        git(self.path, "config", "user.email", "agent@lbi.invalid")
        exclude = self.path / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(_JUNK) + "\n")
        self.venv = ensure_venv(self.cache_dir, project_key(inst.repo))
        self.setup_s = time.perf_counter() - start
        return self

    def _attach_local(self) -> None:
        """A new repository holding the base commit's objects only: a shallow fetch of
        `base_commit` (depth 1, no refs, no tags) from the source. The source holds every
        instance's fix, so sharing its object store (git alternates) would let `git
        cat-file` read the fixed files; here the agent can reach the base tree and nothing
        else. Nothing is written to the source."""
        src = Path(self.source.removeprefix("file://"))
        if not ((src / ".git").is_dir() or (src / "objects").is_dir()):
            raise EnvError(f"{self.source}: not a git repository")
        git(self.root, "init", "--quiet", str(self.path))
        git(
            self.path,
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth=1",
            # a commit asked for by id needs the source's permission to serve it
            "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack",
            str(src.resolve()),
            self.instance.base_commit,
        )

    def shell_env(self) -> dict[str, str]:
        assert self.venv is not None, "setup() first"
        if self._env is None:
            self._env = shell_environment(
                self.venv, python_path(self.path, self.instance), self.root / "home"
            )
        return self._env

    def diff(self) -> str:
        """The workspace's changes against `base_commit`, new files included."""
        git(self.path, "add", "-A")
        return git(self.path, "diff", "--cached", "--binary", self.instance.base_commit)

    def disk_bytes(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, f)).st_size
        return total

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
