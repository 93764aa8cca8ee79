"""Planning a run: which tasks, which jobs (task-major, strategies innermost), and the
checks before any episode that need more than the config (resume compatibility, the run
directory, env readiness; the config's own checks are `runner.config.check_config`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lbi_icl.data import Task
from lbi_icl.runner.config import ConfigError, RunConfig
from lbi_icl.runner.manifest import index_hash
from lbi_icl.runner.results import EPISODES, LLM_CACHE, MANIFEST
from lbi_icl.runner.workers import Job
from lbi_icl.util.changes import setting_changes
from lbi_icl.util.status import status

log = logging.getLogger(__name__)


def select_tasks(config: RunConfig, available: list[Task]) -> list[Task]:
    """The configured tasks, in the split's stable order (task ids keep the given order)."""
    if config.task_ids is not None:
        by_id = {t.id: t for t in available}
        missing = [t for t in config.task_ids if t not in by_id]
        if missing:
            raise ConfigError(
                f"task id(s) not in {config.env} split {config.split!r}: {', '.join(missing[:5])}"
            )
        return [by_id[t] for t in config.task_ids]
    if config.tasks is not None:
        if config.tasks > len(available):
            log.warning(
                "asked for %d tasks, %s split %r has %d",
                config.tasks,
                config.env,
                config.split,
                len(available),
            )
        return available[: config.tasks]
    return available


def plan_jobs(config: RunConfig, tasks: Iterable[Task]) -> list[Job]:
    """Task-major order, strategies innermost, so paired comparisons fill in together."""
    return [
        Job(task=t, strategy=s, seed=seed)
        for t in tasks
        for seed in config.seed_list()
        for s in config.strategies
    ]


def _check_new_run_dir(run_dir: Path) -> None:
    """A folder without a manifest is adopted only when empty (the LLM response cache, made
    before the manifest, may be there): episodes whose settings are unknown are never mixed
    into a new run, and a folder of other things is not written into."""
    if not run_dir.is_dir():
        return
    others = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith(LLM_CACHE))
    if EPISODES in others:
        raise ConfigError(
            f"{run_dir}: holds {EPISODES} but no {MANIFEST}, so the settings its episodes ran "
            f"under are unknown and cannot be resumed; use a new --out, or move {run_dir} "
            "away to start over"
        )
    if others:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ConfigError(
            f"--out {run_dir}: not empty and not a run directory (no {MANIFEST}; it holds "
            f"{listed}); choose a new or empty folder"
        )


def env_notes(env: Any) -> list[str]:
    """What an environment says a reader of the results must know (its optional
    `run_notes()`: e.g. the swe sandbox's state); recorded in the manifest, shown in reports."""
    notes = getattr(env, "run_notes", None)
    return [str(n) for n in notes()] if callable(notes) else []


def list_tasks(config: RunConfig) -> tuple[list[Task], list[str]]:
    """The split's tasks (only as many as the run uses, where the env allows) and the env's
    run notes."""
    from lbi_icl.envs import make_env

    with status(f"starting {config.env} to list the {config.split} split's tasks…"):
        env = make_env(config.env, **config.env_options)
    bind = getattr(env, "bind_run", None)  # the env's use of the run's settings, as the
    if callable(bind):  # workers bind it (e.g. WebArena: the run's --llm judges answers)
        bind(config)
    try:
        # Environments that need outside services (WebArena's sites) say what is missing
        # before the first episode: `check_ready()` raises an EnvError naming the setting.
        check_ready = getattr(env, "check_ready", None)
        if callable(check_ready):
            from lbi_icl.envs.base import EnvError

            try:
                check_ready()
            except EnvError as e:
                raise ConfigError(str(e)) from e
        # Listing a split can cost one reset per task (BabyAI); ask only for what is used.
        try:
            with status(f"listing {config.env}'s {config.split} tasks…"):
                if config.tasks is not None and "limit" in inspect.signature(env.tasks).parameters:
                    tasks = env.tasks(config.split, limit=config.tasks)  # type: ignore[call-arg]
                else:
                    tasks = env.tasks(config.split)
        except (ValueError, KeyError) as e:  # an unknown split, a bad task file: bad input
            raise ConfigError(str(e).strip("'\"")) from e
        return list(tasks), env_notes(env)
    finally:
        env.close()


def check_resume(config: RunConfig, previous: dict[str, Any] | None) -> None:
    if previous is None:
        _check_new_run_dir(Path(config.out))
        return
    old = RunConfig.upgrade_fingerprint(previous.get("fingerprint") or {})
    new = config.fingerprint()
    changes = setting_changes(old, new)
    if changes:
        hint = ""
        layout = (old.get("agent") or {}).get("prompt_layout")
        if layout != config.agent.prompt_layout and isinstance(layout, str):
            hint = f" (--set agent.prompt_layout={layout} for the run's prompt layout)"
        raise ConfigError(
            f"{config.out}: this run directory was made with different settings "
            f"({'; '.join(changes)}); use a new --out, or the original settings to resume"
            f"{hint}"
        )
    old_hash = previous.get("index_manifest_sha256")
    new_hash = index_hash(config.index)
    if old_hash and new_hash and old_hash != new_hash:
        raise ConfigError(
            f"{config.out}: the index at {config.index} changed since this run started "
            "(manifest hash differs); use a new --out"
        )
