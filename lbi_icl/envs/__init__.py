"""Environments: the `Env` protocol, the registry (built-ins + the `lbi_icl.envs` entry-point
group) and the crash/hang guard. Importing this package never imports an environment's
dependencies (minigrid, scienceworld); `make_env` does, for the one it builds."""

from lbi_icl.envs.base import Env, EnvError, StepResult
from lbi_icl.envs.guard import GuardedEnv, SubprocessWorker, guard_env
from lbi_icl.envs.registry import (
    ENTRY_POINT_GROUP,
    EnvInfo,
    EnvNotInstalledError,
    UnknownEnvError,
    env_names,
    list_envs,
    make_env,
    register_env,
    unregister_env,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Env",
    "EnvError",
    "EnvInfo",
    "EnvNotInstalledError",
    "GuardedEnv",
    "StepResult",
    "SubprocessWorker",
    "UnknownEnvError",
    "env_names",
    "guard_env",
    "list_envs",
    "make_env",
    "register_env",
    "unregister_env",
]
