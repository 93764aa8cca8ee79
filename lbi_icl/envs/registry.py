"""Find environments by name: built-ins, in-process registrations, and the `lbi_icl.envs`
entry-point group (so a user can plug in their own harness without forking).

Nothing here imports an environment's heavy dependencies until `make_env` is called:
`list_envs()` only asks `importlib.util.find_spec` whether the modules exist.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from lbi_icl.envs.base import Env

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lbi_icl.envs"


class EnvInfo(BaseModel):
    """What `lbi envs` shows for one environment."""

    model_config = ConfigDict(extra="forbid")

    name: str
    target: str  # 'module:attr' or a description of an in-process factory
    installed: bool
    install_hint: str  # command that installs its dependencies ('' for plugins)
    description: str
    origin: str  # 'builtin' | 'entry-point' | 'registered'
    missing: list[str] = []  # modules / executables that were not found


class UnknownEnvError(LookupError):
    """No environment of that name is registered."""


class EnvNotInstalledError(ImportError):
    """The environment exists but its optional dependencies are missing."""


@dataclass(frozen=True)
class _Entry:
    name: str
    target: str | Callable[..., Env]
    description: str = ""
    requires_modules: tuple[str, ...] = ()
    requires_executables: tuple[str, ...] = ()
    install_hint: str = ""
    origin: str = "builtin"
    extra: dict[str, Any] = field(default_factory=dict)

    def missing(self) -> list[str]:
        out = [m for m in self.requires_modules if not _module_exists(m)]
        out += [f"{x} (executable)" for x in self.requires_executables if not shutil.which(x)]
        return out

    def target_text(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return getattr(self.target, "__qualname__", repr(self.target))


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


_BUILTINS: dict[str, _Entry] = {
    "babyai": _Entry(
        name="babyai",
        target="lbi_icl.envs.babyai:BabyAIEnv",
        description="BabyAI grid-world levels (minigrid) with a BALROG-style text view; "
        "expert = BabyAIBot",
        requires_modules=("minigrid",),
        install_hint='pip install -e ".[babyai]"',
    ),
    "scienceworld": _Entry(
        name="scienceworld",
        target="lbi_icl.envs.scienceworld:ScienceWorldEnv",
        description="ScienceWorld: 30 text-based science tasks with official variation "
        "splits; expert = gold action sequence",
        requires_modules=("scienceworld",),
        requires_executables=("java",),
        install_hint='pip install -e ".[scienceworld]"  (and Java 17)',
    ),
    "swe": _Entry(
        name="swe",
        target="lbi_icl.envs.swe.env:SWEEnv",
        description="SWE-bench-format code tasks: shell actions in a git workspace, graded "
        "by FAIL_TO_PASS/PASS_TO_PASS tests; offline task set via `lbi swe build-tasks`",
        requires_modules=("pytest",),
        requires_executables=("git", "bash"),
        install_hint='pip install -e ".[swe]"  (and git)',
    ),
    "miniwob": _Entry(
        name="miniwob",
        target="lbi_icl.envs.browsergym.miniwob:MiniWoBEnv",
        description="MiniWoB++ web tasks (BrowserGym) offline in headless Chromium; "
        "observation = accessibility tree; no expert",
        requires_modules=("browsergym.miniwob", "miniwob", "playwright"),
        requires_executables=("chromium",),
        install_hint='pip install -e ".[web]"  (and apt-get install chromium)',
    ),
    "webarena": _Entry(
        name="webarena",
        target="lbi_icl.envs.browsergym.webarena:WebArenaEnv",
        description="WebArena's 812 tasks (BrowserGym), listed offline; running needs the "
        "sites: WA_SHOPPING, WA_SHOPPING_ADMIN, WA_REDDIT, WA_GITLAB, WA_WIKIPEDIA, WA_MAP, "
        "WA_HOMEPAGE",
        requires_modules=("browsergym.webarena", "webarena", "playwright"),
        requires_executables=("chromium",),
        install_hint='pip install -e ".[web]" && bash .ci/setup-webarena.sh  (and apt-get '
        "install chromium)",
    ),
    "visualwebarena": _Entry(
        name="visualwebarena",
        target="lbi_icl.envs.browsergym.wafamily:VisualWebArenaEnv",
        description="VisualWebArena's 910 tasks (BrowserGym), listed offline; running needs "
        "the sites: VWA_CLASSIFIEDS, VWA_CLASSIFIEDS_RESET_TOKEN, VWA_SHOPPING, VWA_REDDIT, "
        "VWA_WIKIPEDIA, VWA_HOMEPAGE",
        requires_modules=("browsergym.visualwebarena", "visualwebarena", "playwright"),
        requires_executables=("chromium",),
        install_hint='pip install -e ".[web]" && bash .ci/setup-webarena.sh  (and apt-get '
        "install chromium)",
    ),
    "webarena_verified": _Entry(
        name="webarena_verified",
        target="lbi_icl.envs.browsergym.verified:WebArenaVerifiedEnv",
        description="WebArena-Verified's 812 audited tasks, listed offline; running needs the "
        "WebArena sites (WA_*); scored by webarena-verified's evaluators on the agent's JSON "
        "response and the recorded network trace (HAR)",
        requires_modules=("webarena_verified", "browsergym.webarena", "playwright"),
        requires_executables=("chromium",),
        install_hint='pip install -e ".[web]" && bash .ci/setup-webarena.sh  (and apt-get '
        "install chromium)",
    ),
    "workarena": _Entry(
        name="workarena",
        target="lbi_icl.envs.browsergym.workarena:WorkArenaEnv",
        description="WorkArena (ServiceNow) L1/L2/L3 tasks (BrowserGym), listed offline; "
        "running needs an instance: SNOW_INSTANCE_URL, SNOW_INSTANCE_UNAME, SNOW_INSTANCE_PWD",
        requires_modules=("browsergym.workarena", "playwright"),
        requires_executables=("chromium",),
        install_hint='pip install -e ".[web]" && bash .ci/setup-webarena.sh  (and apt-get '
        "install chromium)",
    ),
    "desktop": _Entry(
        name="desktop",
        target="lbi_icl.envs.desktop.benchmarks:DesktopTasksEnv",
        description="Desktop tasks (Calc, Writer, Impress) on a local Xvfb desktop in OSWorld's "
        "format, scored by OSWorld's own metrics; expert = keyboard-first scripts",
        requires_modules=("desktop_env", "openpyxl", "requests"),
        requires_executables=("Xvfb", "soffice"),
        install_hint='pip install -e ".[desktop]" && bash .ci/setup-desktop.sh',
    ),
    "osworld": _Entry(
        name="osworld",
        target="lbi_icl.envs.desktop.benchmarks:OSWorldEnv",
        description="OSWorld tasks (tasks_dir=) on a real OSWorld VM (server=URL) or, for the "
        "tasks it can run, the local desktop; scored by OSWorld's own metrics",
        requires_modules=("desktop_env", "requests"),
        install_hint='pip install -e ".[desktop]" && bash .ci/setup-desktop.sh',
    ),
    "spider2v": _Entry(
        name="spider2v",
        target="lbi_icl.envs.desktop.benchmarks:Spider2VEnv",
        description="Spider2-V tasks (tasks_dir=); the local desktop runs its LibreOffice "
        "(excel) tasks and refuses the rest before the first episode",
        requires_modules=("desktop_env", "requests"),
        install_hint='pip install -e ".[desktop]" && bash .ci/setup-desktop.sh',
    ),
}

# Registered from Python at run time (`register_env`); they shadow entry points.
_REGISTERED: dict[str, _Entry] = {}


def register_env(
    name: str,
    target: str | Callable[..., Env],
    *,
    description: str = "",
    requires_modules: tuple[str, ...] = (),
    overwrite: bool = False,
) -> None:
    """Register an environment in this process: `target` is 'module:attr' or a callable
    that takes the environment's options as keyword arguments and returns an `Env`."""
    if not name or not name.replace("-", "_").replace(".", "_").isidentifier():
        raise ValueError(f"invalid environment name {name!r}")
    if (name in _BUILTINS or name in _REGISTERED) and not overwrite:
        raise ValueError(f"environment {name!r} is already registered (pass overwrite=True)")
    _REGISTERED[name] = _Entry(
        name=name,
        target=target,
        description=description,
        requires_modules=requires_modules,
        origin="registered",
    )


def unregister_env(name: str) -> None:
    _REGISTERED.pop(name, None)


def _entry_points() -> dict[str, _Entry]:
    out: dict[str, _Entry] = {}
    try:
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as e:  # a broken distribution must not break `lbi envs`
        log.warning("could not read entry points %s: %s", ENTRY_POINT_GROUP, e)
        return out
    for ep in eps:
        if ep.name in _BUILTINS:
            builtin = _BUILTINS[ep.name].target
            if ep.value.replace(" ", "") != builtin:
                log.warning(
                    "entry point %s=%s ignored: %r is a built-in environment (%s)",
                    ep.name,
                    ep.value,
                    ep.name,
                    builtin,
                )
            continue
        dist = getattr(ep, "dist", None)
        summary = ""
        dist_name = ""
        if dist is not None:
            dist_name = dist.metadata.get("Name", "") or ""
            summary = dist.metadata.get("Summary", "") or ""
        out[ep.name] = _Entry(
            name=ep.name,
            target=ep.value,
            description=summary or f"third-party environment from {dist_name or 'a plugin'}",
            install_hint="",
            origin="entry-point",
        )
    return out


def _all_entries() -> dict[str, _Entry]:
    entries = dict(_BUILTINS)
    for name, e in _entry_points().items():
        entries.setdefault(name, e)
    for name, e in _REGISTERED.items():
        entries[name] = e
    return entries


def _entry(name: str) -> _Entry | None:
    """The entry of `name` as `_all_entries()` has it, without scanning the installed
    distributions' entry points (~0.1 s) for a registered or built-in name: every worker of
    a run builds its own env, and 64 scans were seconds of a 64-worker run's start-up."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTINS:
        return _BUILTINS[name]
    return _all_entries().get(name)


def list_envs() -> list[EnvInfo]:
    """Every known environment, sorted by name; never imports one."""
    out = []
    for name, e in sorted(_all_entries().items()):
        missing = e.missing()
        out.append(
            EnvInfo(
                name=name,
                target=e.target_text(),
                installed=not missing,
                install_hint=e.install_hint,
                description=e.description,
                origin=e.origin,
                missing=missing,
            )
        )
    return out


def env_names() -> list[str]:
    return sorted(_all_entries())


def _resolve(target: str) -> Callable[..., Env]:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name.strip())
    obj: Any = module
    for part in attr.strip().split(".") if attr else ():
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{target} is not callable")
    return obj  # type: ignore[no-any-return]


def env_factory(name: str) -> Callable[..., Env]:
    """What `make_env(name, ...)` calls (usually the environment's class), without calling
    it: its class attributes say how a run should guard it (`run_guard.py`)."""
    entry = _entry(name)
    if entry is None:
        raise UnknownEnvError(f"unknown environment {name!r}")
    return _resolve(entry.target) if isinstance(entry.target, str) else entry.target


class EnvOptionError(ValueError):
    """An option the environment does not take (`--env-option`); names the ones it does."""


def _check_options(name: str, factory: Any, options: dict[str, Any]) -> None:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return  # no signature to read: the factory will say
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise EnvOptionError(
            f"environment {name!r} has no option {', '.join(map(repr, unknown))}; its options: "
            f"{', '.join(known) or '(none)'}"
        )


def make_env(name: str, **options: Any) -> Env:
    """Build the environment called `name` with its own keyword options.

    Raises `UnknownEnvError` for a name nobody registered and `EnvNotInstalledError` (with
    the install command) when its optional dependencies are missing.
    """
    entry = _entry(name)
    if entry is None:
        known = ", ".join(sorted(_all_entries())) or "(none)"
        raise UnknownEnvError(f"unknown environment {name!r}; known: {known}")
    missing = entry.missing()
    if missing:
        hint = f"; install with: {entry.install_hint}" if entry.install_hint else ""
        raise EnvNotInstalledError(
            f"environment {name!r} needs {', '.join(missing)}, which is not installed{hint}"
        )
    factory = _resolve(entry.target) if isinstance(entry.target, str) else entry.target
    _check_options(name, factory, options)
    env = factory(**options)
    if not isinstance(env, Env):
        raise TypeError(
            f"environment {name!r} ({entry.target_text()}) returned {type(env).__name__}, "
            "which does not implement lbi_icl.envs.base.Env"
        )
    return env
