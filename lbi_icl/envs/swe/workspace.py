"""A task's workspace: a git checkout of the record's repository at `base_commit` in a fresh
temporary directory, and the environment its shell commands run with.

Layout of the temporary directory (only `repo/` and `home/` are visible in the sandbox):
- `base.git/`: a private bare repository holding the base commit's objects (a depth-1 fetch
  from the source); the agent's checkout and every grading checkout are made from it, and
  the submission is diffed against it, so nothing in the agent's `.git` is ever trusted;
- `repo/`: the agent's checkout; `home/`: its HOME; `grade-N/`: clean grading checkouts.

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
from lbi_icl.envs.swe.sandbox import Sandbox, sandbox_env

_JUNK = ("__pycache__/", "*.pyc", ".pytest_cache/", ".lbi_*")


def default_cache_dir() -> Path:
    from lbi_icl.util.cache_dir import cache_root

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


def _world_readable(folder: Path) -> None:
    mode = folder.stat().st_mode
    if mode & 0o005 != 0o005:
        with contextlib.suppress(OSError):  # not ours to change: the sandbox check says so
            folder.chmod(mode | 0o055)


def ensure_venv(cache_dir: Path, key: str) -> Path:
    """The cached virtualenv for project `key`, built on first use (atomically)."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = cache_dir / "venvs" / f"{key}-py{ver}"
    if (target / "pyvenv.cfg").exists():
        _world_readable(target)
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
        _world_readable(tmp)  # mkdtemp made it 0700; the sandbox's user must read it
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


# Host variables an unsandboxed command keeps (the sandbox passes even fewer): no API keys,
# tokens or the host's Python settings reach the agent's shell, its output or the step logs.
_HOST_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL")


def shell_environment(
    venv: Path, pythonpath: list[str], home: Path, *, sandboxed: bool = False
) -> dict[str, str]:
    """The environment shell commands run with: the venv first on PATH, the project on
    PYTHONPATH, no bytecode written, no pager, no prompts; nothing else from the host.

    HOME is `home` (the workspace's own folder): `bash -l` then reads the system profile
    and `home/.bash_profile`, written here to put the venv back in front of the PATH the
    system profile resets, and never the user's own profile (which may put other Pythons
    first or be slow)."""
    extra = {
        "VIRTUAL_ENV": str(venv),
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "PAGER": "cat",
        "GIT_PAGER": "cat",
        "TERM": "dumb",
        "PIP_NO_INPUT": "1",
    }
    if sandboxed:
        env = sandbox_env(home, [venv / "bin"], extra)
    else:
        env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
        env.update(extra, HOME=str(home))
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    home.mkdir(parents=True, exist_ok=True)
    profile = home / ".bash_profile"
    if not profile.exists():
        profile.write_text(f"export PATH={shlex.quote(env['PATH'])}\n", encoding="utf-8")
    return env


def _fetch_commit(dest_git: Path, source: str, rev: str) -> None:
    """A depth-1 fetch of `rev` (a commit id or a ref name) from `source` into the
    repository whose git dir is `dest_git`; the fetched commit is left in FETCH_HEAD."""
    # a commit asked for by id needs the source's permission to serve it
    upload = "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack"
    args = ["fetch", "--quiet", "--no-tags", "--depth=1"]
    git(dest_git, *args, upload, source, rev)


class Workspace:
    """A checkout at `base_commit` under a fresh temporary directory; `close()` removes it.
    With `sandbox=True` the agent's commands and the grader's test runs go through
    `self.sandbox` (see `sandbox.py`)."""

    def __init__(
        self,
        instance: SWEInstance,
        source: str,
        *,
        cache_dir: Path,
        parent: Path | None = None,
        sandbox: bool = False,
    ) -> None:
        self.instance = instance
        self.source = source
        self.cache_dir = cache_dir
        self.root = Path(tempfile.mkdtemp(prefix="lbi-swe-", dir=parent))
        self.base_git = self.root / "base.git"
        self.path = self.root / "repo"
        self.home = self.root / "home"
        self.sandboxed = sandbox
        self.sandbox: Sandbox | None = None
        self.venv: Path | None = None
        self.base_sha = ""
        self._env: dict[str, str] | None = None
        self._grades = 0
        self.setup_s = 0.0

    def setup(self) -> Workspace:
        start = time.perf_counter()
        inst = self.instance
        try:
            self._fill_base()
            self.checkout(self.path)
        except EnvError as e:
            raise EnvError(f"instance {inst.instance_id}: workspace set-up failed: {e}") from e
        self.venv = ensure_venv(self.cache_dir, project_key(inst.repo))
        if self.sandboxed:
            self.sandbox = Sandbox.for_paths([self.venv], [self.path, self.home])
        self.shell_env()  # writes home/.bash_profile
        if self.sandbox is not None:
            self.sandbox.give(self.path, self.home)
        self.setup_s = time.perf_counter() - start
        return self

    def _fill_base(self) -> None:
        """The private bare repository with the base commit's objects and nothing else. The
        source may hold every instance's fix, so sharing its object store (git alternates)
        would let `git cat-file` read the fixed files: a depth-1 fetch copies the base tree
        alone. Nothing is written to the source."""
        inst = self.instance
        git(self.root, "init", "--quiet", "--bare", str(self.base_git))
        local = not self.source.startswith(("https://", "http://", "git@", "ssh://"))
        if local:
            src = Path(self.source.removeprefix("file://"))
            if not ((src / ".git").is_dir() or (src / "objects").is_dir()):
                raise EnvError(f"{self.source}: not a git repository")
            source = str(src.resolve())
        else:
            source = self.source
        try:
            _fetch_commit(self.base_git, source, inst.base_commit)
        except EnvError:
            if local:
                raise
            # a server that does not serve commits by id: fetch its branches and tags
            git(self.base_git, "fetch", "--quiet", source, "+refs/heads/*:refs/heads/*")
            git(self.base_git, "fetch", "--quiet", "--tags", source)
            git(self.base_git, "update-ref", "FETCH_HEAD", f"{inst.base_commit}^{{commit}}")
        self.base_sha = git(self.base_git, "rev-parse", "FETCH_HEAD^{commit}").strip()
        git(self.base_git, "update-ref", "refs/lbi/base", self.base_sha)
        git(self.base_git, "config", "uploadpack.allowAnySHA1InWant", "true")

    def checkout(self, path: Path) -> None:
        """A new repository at `path` holding the base commit (from the private copy),
        checked out, with a fixed identity and the junk excluded."""
        git(self.root, "init", "--quiet", str(path))
        _fetch_commit(path / ".git", str(self.base_git), self.base_sha)
        git(path, "checkout", "--quiet", "--detach", self.base_sha)
        git(path, "config", "user.name", "lbi agent")
        git(path, "config", "user.email", "agent@lbi.invalid")
        exclude = path / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as fh:
            fh.write("\n".join(_JUNK) + "\n")

    def shell_env(self) -> dict[str, str]:
        assert self.venv is not None, "setup() first"
        if self._env is None:
            self._env = shell_environment(
                self.venv,
                python_path(self.path, self.instance),
                self.home,
                sandboxed=self.sandbox is not None,
            )
        return self._env

    def grading_checkout(self) -> tuple[Path, dict[str, str], Sandbox | None]:
        """A clean checkout at the base commit in a new folder (with its own HOME), the
        environment its tests run with, and its sandbox (None when unsandboxed). The
        caller applies the submission and the test patch before handing it over."""
        assert self.venv is not None, "setup() first"
        self._grades += 1
        folder = self.root / f"grade-{self._grades}"
        repo, home = folder / "repo", folder / "home"
        folder.mkdir()
        self.checkout(repo)
        env = shell_environment(
            self.venv, python_path(repo, self.instance), home, sandboxed=self.sandboxed
        )
        box = Sandbox.for_paths([self.venv], [repo, home]) if self.sandboxed else None
        return repo, env, box

    def diff(self) -> str:
        """Every change in the agent's checkout against the base commit (see
        `submission.take_submission`, which also drops the protected paths)."""
        from lbi_icl.envs.swe.submission import take_submission

        return take_submission(self.base_git, self.path, self.base_sha).diff

    def disk_bytes(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, f)).st_size
        return total

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
