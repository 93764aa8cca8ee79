"""Score an episode the way OSWorld's `DesktopEnv.evaluate` does, with OSWorld's own metric
and getter functions:

1. run `evaluator.postconfig` (e.g. activate the window, Ctrl+S, wait);
2. `func == "infeasible"`: 1 when the last action was `FAIL`, else 0; otherwise a last
   `FAIL` scores 0;
3. one metric: `metric(result, expected, **options)` (`expected` only when given); a
   result getter raising FileNotFoundError scores 0;
4. a list of metrics with `conj` "and" (a 0 stops at 0; else the mean) or "or" (a 1 stops
   at 1; else the max).

The getters get `GetterEnv`: what OSWorld's getters read from their `env` argument
(`controller`, `vm_ip`, `server_port`, `cache_dir`, ...). The project adds one getter of
Spider2-V's: `local_file` (a file of the task folder, copied into the cache dir).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbi_icl.envs.desktop import evaluators
from lbi_icl.envs.desktop.client import DesktopClient
from lbi_icl.envs.desktop.setup_steps import HostPaths, run_steps
from lbi_icl.envs.desktop.tasks import OSWorldTask

log = logging.getLogger(__name__)


@dataclass
class GetterEnv:
    controller: DesktopClient
    cache_dir: str
    paths: HostPaths
    vm_platform: str = "Linux"
    chromium_port: int = 9222
    vlc_port: int = 8080
    current_use_proxy: bool = False

    @property
    def vm_ip(self) -> str:
        return self.controller.vm_ip

    @property
    def server_port(self) -> int:
        return self.controller.port

    @property
    def http_server(self) -> str:
        return f"http://{self.vm_ip}:{self.server_port}"


def _local_file(env: GetterEnv, config: dict[str, Any]) -> str:
    src = env.paths.host_file(str(config["path"]))
    dest = Path(env.cache_dir) / str(config.get("dest") or src.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return str(dest)


def getter_of(config: dict[str, Any] | None) -> Any:
    """The getter function for a result / expected config (None for none)."""
    if not config:
        return None
    gtype = str(config.get("type", ""))
    if gtype == "local_file":
        return _local_file
    return evaluators.load("getter", gtype)


def _as_list(value: Any, n: int) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] * n if value is None else [value]


KeepFn = Callable[[int, dict[str, Any], Any], None]
NOT_FOUND = object()  # what `keep` gets when a result getter raised FileNotFoundError


def evaluate(
    task: OSWorldTask,
    client: DesktopClient,
    genv: GetterEnv,
    last_action: str | None,
    keep: KeepFn | None = None,
) -> float:
    """The episode's score on the live desktop. `keep(i, result config, state)` sees each
    result getter's output (NOT_FOUND when it raised FileNotFoundError) before metric `i`
    reads it: the desktop env saves result files for `lbi rescore` (final_files.py)."""
    ev = task.evaluator
    if ev.postconfig:
        run_steps(ev.postconfig, client, genv.paths, task.id)

    def result_of(i: int, cfg: dict[str, Any]) -> Any:
        try:
            state = getter_of(cfg)(genv, cfg)
        except FileNotFoundError:
            if keep is not None:
                keep(i, cfg, NOT_FOUND)
            raise
        if keep is not None:
            keep(i, cfg, state)
        return state

    return combine(task, last_action, result_of, lambda _i, cfg: getter_of(cfg)(genv, cfg))


def combine(
    task: OSWorldTask,
    last_action: str | None,
    result_of: Callable[[int, dict[str, Any]], Any],
    expected_of: Callable[[int, dict[str, Any]], Any],
) -> float:
    """Steps 2-4 above: the metrics on what `result_of` / `expected_of` give for metric i's
    getter config (live: the getters on the desktop; `lbi rescore`: the saved files)."""
    ev = task.evaluator
    if ev.func == "infeasible":
        return 1.0 if last_action == "FAIL" else 0.0
    if last_action == "FAIL":
        return 0.0
    names = ev.metric_names()
    many = isinstance(ev.func, list)
    results = ev.result if many else [ev.result]
    expected = _as_list(ev.expected, len(names)) if many else [ev.expected]
    options = ev.options if many else [ev.options]
    if not isinstance(results, list) or not isinstance(options, list | type(None)):
        raise evaluators.EvaluatorError(f"task {task.id}: evaluator lists do not line up")
    options = options or [None] * len(names)
    if many and not (len(results) == len(expected) == len(options) == len(names)):
        raise evaluators.EvaluatorError(
            f"task {task.id}: evaluator.func has {len(names)} metrics but result/expected/"
            "options do not have as many entries"
        )
    scores: list[float] = []
    for i, (name, res_cfg, exp_cfg, opts) in enumerate(
        zip(names, results, expected, options, strict=True)
    ):
        metric = evaluators.load("metric", name)
        try:
            result_state = result_of(i, res_cfg) if res_cfg else None
        except FileNotFoundError:
            log.info("task %s: result file not found", task.id)
            if ev.conj == "and" or not many:
                return 0.0
            scores.append(0.0)
            continue
        if exp_cfg:
            expected_state = expected_of(i, exp_cfg)
            score = float(metric(result_state, expected_state, **(opts or {})))
        else:
            score = float(metric(result_state, **(opts or {})))
        if not many:
            return score
        if ev.conj == "and" and score == 0.0:
            return 0.0
        if ev.conj == "or" and score == 1.0:
            return 1.0
        scores.append(score)
    if not scores:
        return 0.0
    return sum(scores) / len(scores) if ev.conj == "and" else max(scores)
