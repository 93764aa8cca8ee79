"""WebArena-Verified: the 812 audited WebArena tasks, scored by `webarena-verified`'s evaluators.

`tasks("test")` reads `assets/dataset/webarena-verified.json` from the `webarena-verified`
package (installed `--no-deps` by `.ci/setup-webarena.sh`) as a data file: the same task
ids and sites (`WA_*`) as WebArena, audited intents, and evaluator specs
(`AgentResponseEvaluator` on every task, `NetworkEventEvaluator` on 663).

An episode runs in the browser worker as the gym task `browsergym/lbi.webarena_verified`
(`wa_verified.py`): the page context's network trace is recorded by Playwright (HAR), the
goal asks for the final answer as WebArena-Verified's JSON agent response, the episode ends
at the agent's final `send_msg_to_user`, and the package's own evaluators score the
response and the trace. `trace_dir=DIR` keeps each episode's `network.har`,
`agent_response.json` and `eval_result.json` under `DIR/<task_id>/`.

`task_configs=PATH` runs your own tasks in WebArena-Verified's format (a JSON list of
objects like those in `webarena-verified.json`; URLs written with the site templates
`__SHOPPING__`, ... and rendered from the `WA_*` settings of the sites the tasks use).

Before the first episode `check_ready()` stops with one error naming what is missing: the
evaluators' dependencies, an invalid own config (file, index, task id, field), unset
`WA_*` settings, a site that does not answer, nltk's `punkt_tab` (the packaged tasks sign
in through `browsergym.webarena`, which downloads it on import otherwise).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lbi_icl.data import Document, Task
from lbi_icl.envs.browsergym.session import SessionConfig
from lbi_icl.envs.browsergym.webarena import (
    SITE_SETTING,
    SitesNotReadyError,
    WebArenaEnv,
    package_data,
)

GYM_ID = "browsergym/lbi.webarena_verified"
# WebArena-Verified site -> the setting (BrowserGym's names) that holds its base URL
SITES: dict[str, str] = {**SITE_SETTING, "homepage": "WA_HOMEPAGE"}
RESPONSE_DOC = (
    "WebArena-Verified scores the final message, not free text: end every task with "
    "send_msg_to_user and one JSON object\n"
    '{"task_type": "RETRIEVE" | "MUTATE" | "NAVIGATE",\n'
    ' "status": "SUCCESS" | "NOT_FOUND_ERROR" | "ACTION_NOT_ALLOWED_ERROR" | '
    '"PERMISSION_DENIED_ERROR" | "DATA_VALIDATION_ERROR" | "UNKNOWN_ERROR",\n'
    ' "retrieved_data": [answers] for RETRIEVE tasks (numbers as numbers), null otherwise,\n'
    ' "error_details": null, or why the task could not be done}\n'
    "RETRIEVE: you read information; MUTATE: you created, changed or deleted something; "
    "NAVIGATE: you opened the page asked for. What you did in the browser is checked from "
    "the network requests it made (the page you ended on, the forms you submitted)."
)


class WebArenaVerifiedEnv(WebArenaEnv):
    name = "webarena_verified"
    benchmark = "webarena_verified"
    gym_prefix = "webarena"  # the same task ids on the same sites
    needs_punkt = True  # packaged tasks sign in through browsergym.webarena (see check_ready)
    takes_task_configs = True  # in WebArena-Verified's own format
    # (inherits WebArena's rescore; this says why it does not apply)
    no_offline_score = (
        "webarena-verified scores the agent's response together with the episode's network "
        "trace (the HAR Playwright records), which the run directory does not keep "
        "(trace_dir= keeps one per task id, overwritten by the next seed or strategy)"
    )

    def __init__(self, *, trace_dir: str | Path | None = None, **options: Any):
        super().__init__(**options)
        self.trace_dir = str(Path(trace_dir).resolve()) if trace_dir else None
        self._raw: list[dict[str, Any]] | None = None

    def config_path(self) -> Path:
        return package_data(
            "webarena_verified",
            "assets/dataset/webarena-verified.json",
            "the WebArena-Verified task configs",
        )

    def raw_configs(self) -> list[dict[str, Any]]:
        """The tasks as WebArena-Verified writes them (what its evaluators take)."""
        if self._raw is None:
            path = self.task_configs or self.config_path()
            self._raw = load_verified(path, own=self.task_configs is not None)
        return self._raw

    def configs(self) -> list[dict[str, Any]]:
        if self._configs is None:
            self._configs = [_from_verified(cfg) for cfg in self.raw_configs()]
        return self._configs

    def tasks(self, split: str) -> list[Task]:
        out = super().tasks(split)
        by_id = {cfg["task_id"]: cfg for cfg in self.raw_configs()}
        for task in out:
            task.metadata["gym_id"] = GYM_ID
            task.metadata["task_kwargs"] = {
                "config": by_id[task.metadata["task_id"]],
                "login": self.task_configs is None,
                "trace_dir": self.trace_dir,
            }
        return out

    # -- readiness ------------------------------------------------------------------------

    def site_urls(self) -> dict[str, str]:
        if self.task_configs is None:
            return {k: os.environ.get(k, "") for k in self.settings}
        used = {SITES[s] for cfg in self.raw_configs() for s in cfg["sites"]}
        return {k: os.environ.get(k, "") for k in sorted(used)}

    def check_ready(self) -> None:
        if self._ready or not self.check_sites:
            return
        try:
            import webarena_verified.api  # noqa: F401  (its dependencies, e.g. pint, jsonpath_ng)
        except ImportError as e:
            raise SitesNotReadyError(
                f"{self.name}: webarena-verified's evaluators cannot be imported ({e}); "
                "install them with: bash .ci/setup-webarena.sh"
            ) from e
        if self.task_configs is not None:
            validate_verified(self.task_configs, self.raw_configs())
        super().check_ready()  # unset WA_* settings, sites that do not answer, punkt_tab

    def session_modules(self) -> list[str]:
        return ["lbi_icl.envs.browsergym.wa_verified"]

    def session_environ(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("WA_")}

    def session_config(self) -> SessionConfig:
        return super().session_config().model_copy(update={"record_har": True})

    def documents(self) -> list[Document]:
        docs = super().documents()
        docs.insert(
            1,
            Document(
                id=f"{self.name}/agent-response",
                env=self.name,
                title="The final answer (agent response)",
                text=RESPONSE_DOC,
            ),
        )
        return docs


def load_verified(path: Path, *, own: bool) -> list[dict[str, Any]]:
    """Task configs in WebArena-Verified's format, checked enough to list them offline
    (the full model check is `validate_verified`, which needs the package's dependencies)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(
            f"{path}: not a readable JSON list of WebArena-Verified task configs: {e}"
        ) from e
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of task configs, got {type(data).__name__}")
    seen: set[int] = set()
    for i, cfg in enumerate(data):
        where = f"{path}: config #{i}"
        if not isinstance(cfg, dict):
            raise ValueError(f"{where}: expected an object, got {type(cfg).__name__}")
        for key, kind in (("task_id", int), ("intent", str), ("sites", list)):
            if not isinstance(cfg.get(key), kind):
                raise ValueError(f"{where}: field {key!r} must be a {kind.__name__}")
        for key in ("start_urls", "eval"):
            if not isinstance(cfg.get(key), list) or not cfg[key]:
                raise ValueError(f"{where}: field {key!r} must be a non-empty list")
        where = f"{where} (task_id {cfg['task_id']})"
        if cfg["task_id"] in seen:
            raise ValueError(f"{where}: task_id used twice")
        seen.add(cfg["task_id"])
        unknown = [s for s in cfg["sites"] if s not in SITES]
        if unknown:
            raise ValueError(f"{where}: unknown site(s) {unknown}; expected some of {list(SITES)}")
        if own and not any(
            isinstance(e, dict) and e.get("evaluator") == "AgentResponseEvaluator"
            for e in cfg["eval"]
        ):
            raise ValueError(f"{where}: 'eval' needs an AgentResponseEvaluator entry")
    return data


def validate_verified(path: Path, configs: list[dict[str, Any]]) -> None:
    """Every config through the package's own model (`WebArenaVerifiedTask`)."""
    from pydantic import ValidationError
    from webarena_verified.types.task import WebArenaVerifiedTask

    for i, cfg in enumerate(configs):
        try:
            WebArenaVerifiedTask.model_validate(cfg)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "(config)"
            raise ValueError(
                f"{path}: config #{i} (task_id {cfg.get('task_id')}): field {field}: "
                f"{err['msg']} (WebArena-Verified's task format)"
            ) from e


def _from_verified(cfg: dict[str, Any]) -> dict[str, Any]:
    """A WebArena-Verified task in the fields `WebArenaEnv.tasks` reads: `start_urls` joined
    the WebArena way, `eval` (a list of evaluator specs) summarized as `eval_types`."""
    evals = cfg.get("eval") or []
    if not isinstance(evals, list):
        raise ValueError(
            f"webarena-verified task {cfg.get('task_id')}: 'eval' is "
            f"{type(evals).__name__}, expected a list of evaluator specs"
        )
    out = dict(cfg)
    out["start_url"] = " |AND| ".join(str(u) for u in cfg.get("start_urls") or [])
    out["eval"] = {"eval_types": [str(e.get("evaluator")) for e in evals if isinstance(e, dict)]}
    return out


__all__ = ["GYM_ID", "RESPONSE_DOC", "WebArenaVerifiedEnv", "load_verified"]
