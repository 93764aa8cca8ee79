"""Connecting to Ray (the `[ray]` extra) and the per-worker resources an environment asks for.

Ray is imported here only, and only when `--executor ray` is chosen: `import lbi_icl` never
imports it. The address is `--ray-address`, else `RAY_ADDRESS`, else a local instance is
started for this command (on 127.0.0.1 only, no dashboard, usage stats off) and stopped
after it.
An instance the caller already started (`ray.init()` before `run_experiment`) is used as is
and left running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

# What one worker (actor) reserves unless its environment class says otherwise.
DEFAULT_WORKER_RESOURCES: dict[str, float] = {"num_cpus": 1}
_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources")


class RayUnavailableError(RuntimeError):
    """`--executor ray` without the `[ray]` extra installed."""


def import_ray(*, loopback: bool = False) -> Any:
    """`ray`, with usage stats off; `loopback`: a Ray instance started by this process binds
    and talks on 127.0.0.1 only (Ray's switch for single-machine instances; it is read when
    ray is first imported)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry
    if loopback and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as e:
        raise RayUnavailableError(
            '--executor ray needs Ray: pip install -e ".[ray]" -c constraints-cpu.txt'
        ) from e
    return ray


@contextlib.contextmanager
def ray_session(num_cpus: int, address: str | None) -> Iterator[Any]:
    """The `ray` module, connected: to `address` (or RAY_ADDRESS), or to a local instance
    with `num_cpus` CPUs started here and shut down on exit."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    ray = import_ray(loopback=not address)
    if ray.is_initialized():
        yield ray
        return
    if address:
        log.info("connecting to the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    else:
        log.info("starting a local Ray instance with %d CPUs", num_cpus)
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            _node_ip_address="127.0.0.1",
        )
    try:
        yield ray
    finally:
        ray.shutdown()


def env_worker_resources(env_name: str) -> dict[str, Any]:
    """Ray options of one worker for `env_name`: the env class's `worker_resources`
    (a dict of num_cpus / num_gpus / memory in bytes / custom `resources`), else one CPU."""
    from lbi_icl.envs.registry import _all_entries, _resolve

    entry = _all_entries().get(env_name)
    declared: Any = None
    if entry is not None:
        target = entry.target
        try:
            obj = _resolve(target) if isinstance(target, str) else target
        except Exception:  # not installed here: make_env reports it with its hint
            obj = None
        declared = getattr(obj, "worker_resources", None)
    if not declared:
        return dict(DEFAULT_WORKER_RESOURCES)
    bad = [k for k in declared if k not in _RESOURCE_KEYS]
    if bad:
        raise ValueError(
            f"environment {env_name!r}: worker_resources has unknown key(s) {bad}; "
            f"expected some of {', '.join(_RESOURCE_KEYS)}"
        )
    return dict(declared)
