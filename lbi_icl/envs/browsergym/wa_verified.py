"""WebArena-Verified tasks in the browser worker, judged by `webarena-verified`'s own evaluators.

WebArena-Verified (`webarena-verified` 1.2.3) scores an episode from two artifacts, the
same two its CLI reads from a run folder (`{task_id}/agent_response.json`,
`{task_id}/network.har`):

- the **agent response**: the agent's final message, a JSON object
  `{"task_type": "RETRIEVE" | "MUTATE" | "NAVIGATE", "status": "SUCCESS" | "NOT_FOUND_ERROR"
  | ..., "retrieved_data": [...] | null, "error_details": null | "..."}` (the package's
  `FinalAgentResponse`). Here it is the text of the last `send_msg_to_user` (or
  `report_infeasible`) call, parsed by `agent_response()`: a fenced or bare JSON object is
  validated against `FinalAgentResponse` (which upper-cases the enums and accepts the legacy
  name `performed_operation`); text that is not such an object is passed on as it is, and
  `AgentResponseEvaluator` fails it with its own assertion;
- the **network trace**: Playwright's HAR of the page context, recorded by the browser
  itself (`record_har_path`, `record_har_content="embed"`: request headers as sent,
  `postData`, status, redirect, response headers, cookies and bodies, which is what
  `NetworkEventEvaluator` reads). Playwright writes the HAR when the context closes, so the
  episode is scored once it ends: `validate()` ends the episode at the final message and
  says a trace is needed; the session (`session.py`) then closes the BrowserGym env and calls
  `score_trace()` with the written HAR.

`score_trace()` builds a `TaskEvalContext` (the task validated as `WebArenaVerifiedTask`,
the response, `NetworkTrace.from_content(har)`, a `WebArenaVerifiedConfig` whose
environments are the `WA_*` URLs) and runs `WebArenaVerifiedEvaluator` from
`webarena_verified.api` — the package's code, not a re-implementation (its declared
`pydantic==2.12.0` pin is not honoured: `.ci/setup-webarena.sh` installs it `--no-deps`
with its other dependencies, and its evaluators run on the venv's pydantic 2.x). The score
is the package's: 1.0 only when every evaluator of the task passes.

Registered as the gym id `browsergym/lbi.webarena_verified`; the task comes in
`task_kwargs={"config": <the task as in webarena-verified.json>, "login": bool,
"trace_dir": str | None}`. `login` signs in to every site of the task first through
BrowserGym's `WebArenaInstance.ui_login` (the packaged tasks: the benchmark starts logged
in); `trace_dir` keeps `{trace_dir}/{task_id}/network.har`, `agent_response.json` and
`eval_result.json` in the package's run-folder layout (re-scorable with its CLI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from browsergym.core.registration import register_task
from browsergym.core.task import AbstractBrowserTask

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.browsergym.verified import GYM_ID
from lbi_icl.envs.browsergym.verified import SITES as SITE_SETTINGS

RESPONSE_FORMAT = (
    "When you are done, call send_msg_to_user with one JSON object (WebArena-Verified's "
    'agent response): {"task_type": "RETRIEVE" | "MUTATE" | "NAVIGATE", "status": '
    '"SUCCESS" | "NOT_FOUND_ERROR" | "ACTION_NOT_ALLOWED_ERROR" | "PERMISSION_DENIED_ERROR" '
    '| "DATA_VALIDATION_ERROR" | "UNKNOWN_ERROR", "retrieved_data": a list of the answers '
    'for RETRIEVE (numbers as numbers), else null, "error_details": null or why it failed}.'
)

_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def agent_response(text: str | None) -> tuple[Any, str | None]:
    """(the response handed to the evaluators, why it is not a valid agent response or None).

    A JSON object (bare, inside the text, or in a ``` fence) that validates as
    `FinalAgentResponse` becomes that model's plain dict; any other text is returned as it
    is (the evaluator reports the mismatch); no final message gives None."""
    if text is None or not text.strip():
        return None, "no final message (send_msg_to_user) in the episode"
    from pydantic import ValidationError
    from webarena_verified.types.agent_response import FinalAgentResponse

    raw = text.strip()
    fenced = _FENCED.search(raw)
    candidates = [fenced.group(1).strip()] if fenced else []
    candidates.append(raw)
    if "{" in raw and "}" in raw:
        candidates.append(raw[raw.index("{") : raw.rindex("}") + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        try:
            return FinalAgentResponse.model_validate(value).model_dump(mode="json"), None
        except ValidationError as e:
            return value, f"not a valid agent response: {e.errors()[0]['msg']}"
    return text, "the final message is not a JSON object"


def site_urls(environ: dict[str, str] | None = None) -> dict[str, str]:
    """{site: base URL} for every WebArena site whose `WA_*` setting is set."""
    env = os.environ if environ is None else environ
    return {site: env[key] for site, key in SITE_SETTINGS.items() if env.get(key)}


def eval_config(urls: dict[str, str]) -> Any:
    from webarena_verified.types.config import EnvironmentConfig, WebArenaVerifiedConfig
    from webarena_verified.types.task import WebArenaSite

    envs = {WebArenaSite(site): EnvironmentConfig(urls=[url]) for site, url in urls.items()}
    return WebArenaVerifiedConfig(environments=envs)


def evaluate(config: dict[str, Any], response: Any, har_path: Path, urls: dict[str, str]) -> Any:
    """webarena-verified's `TaskEvalResult` for one task config, response and HAR file."""
    from webarena_verified.api import WebArenaVerifiedEvaluator
    from webarena_verified.types.eval import TaskEvalContext
    from webarena_verified.types.task import WebArenaVerifiedTask
    from webarena_verified.types.tracing import NetworkTrace

    cfg = eval_config(urls)
    context = TaskEvalContext(
        task=WebArenaVerifiedTask.model_validate(config),
        agent_response_raw=response,
        network_trace=NetworkTrace.from_content(har_path),
        config=cfg,
    )
    return WebArenaVerifiedEvaluator(config=cfg, reader=None).evaluate_task(context=context)  # type: ignore[arg-type]


def summary(result: Any) -> dict[str, Any]:
    """The parts of a `TaskEvalResult` worth logging per episode (plain data)."""
    evaluators = []
    for r in result.evaluators_results:
        failed = [
            msg
            for a in r.assertions or []
            if not a.is_success
            for msg in (a.assertion_msgs or [a.assertion_name])
        ]
        row = {"evaluator": r.evaluator_name, "status": str(r.status), "score": r.score}
        if failed:
            row["failed"] = [str(m)[:300] for m in failed[:5]]
        if r.error_msg:
            row["error"] = str(r.error_msg)[:300]
        evaluators.append(row)
    out: dict[str, Any] = {
        "score": float(result.score),
        "status": str(result.status),
        "evaluators": evaluators,
    }
    if result.error_msg:
        out["error"] = str(result.error_msg)[:500]
    return out


class VerifiedTask(AbstractBrowserTask):
    """One WebArena-Verified task: starts at its rendered start URLs, ends at the agent's
    final message, and is scored on the recorded network trace (`score_trace`)."""

    def __init__(
        self,
        seed: int,
        config: dict[str, Any],
        login: bool = False,
        trace_dir: str | None = None,
        slow_mo: int = 100,
    ) -> None:
        super().__init__(seed)
        self.config = dict(config)
        self.login = login
        self.trace_dir = trace_dir
        self.viewport = {"width": 1280, "height": 720}
        self.slow_mo = slow_mo
        self.timeout = 10000
        self.urls = site_urls()
        self.answer: str | None = None

    @classmethod
    def get_task_id(cls) -> str:
        return GYM_ID.removeprefix("browsergym/")

    def setup(self, page: Any) -> tuple[str, dict[str, Any]]:
        from webarena_verified.types.task import WebArenaSite

        sites = [WebArenaSite(s) for s in self.config["sites"]]
        missing = [SITE_SETTINGS[s.value] for s in sites if s.value not in self.urls]
        if missing:
            raise RuntimeError(f"task {self.config['task_id']}: {', '.join(missing)} not set")
        cfg = eval_config(self.urls)
        if self.login:
            from browsergym.webarena.instance import WebArenaInstance

            instance = WebArenaInstance()
            for site in self.config["sites"]:
                if site in instance.urls:  # homepage has no login
                    instance.ui_login(site=site, page=page)
        starts = [cfg.render_url(u, sites) for u in self.config["start_urls"]]
        for i, url in enumerate(starts):
            page.goto(url)
            if i < len(starts) - 1:
                page = page.context.new_page()
        return f"{self.config['intent']}\n\n{RESPONSE_FORMAT}", {}

    def validate(self, page: Any, chat_messages: list[Any]) -> tuple[float, bool, str, dict]:
        last = chat_messages[-1] if chat_messages else None
        if last and last["role"] in ("assistant", "infeasible"):
            self.answer = str(last["message"])
            return 0.0, True, "", {"needs_trace": True, "final_role": last["role"]}
        return 0.0, False, "", {}

    def score_trace(self, har_path: Path) -> tuple[float, dict[str, Any]]:
        """Score the ended episode: the final message and the HAR the closed context wrote."""
        response, why = agent_response(self.answer)
        info: dict[str, Any] = {"agent_response": response}
        if why:
            info["agent_response_error"] = why
        if not har_path.exists() or har_path.stat().st_size == 0:
            info.update(score=0.0, status="error", error=f"no network trace at {har_path}")
            return 0.0, info
        result = evaluate(self.config, response, har_path, self.urls)
        info.update(summary(result))
        info["har_entries"] = len(json.loads(har_path.read_text("utf-8"))["log"]["entries"])
        if self.trace_dir:
            self._keep(har_path, response, result)
        return float(result.score), info

    def _keep(self, har_path: Path, response: Any, result: Any) -> None:
        """{trace_dir}/{task_id}/: network.har, agent_response.json, eval_result.json."""
        out = Path(str(self.trace_dir)) / str(self.config["task_id"])
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, suffix=".har.tmp")
        os.close(fd)
        shutil.copyfile(har_path, tmp)
        os.replace(tmp, out / "network.har")
        for name, value in (
            ("agent_response.json", response),
            ("eval_result.json", result.model_dump(mode="json")),
        ):
            atomic_write_text(out / name, json.dumps(value, indent=2, default=str))

    def teardown(self) -> None:
        pass


register_task(VerifiedTask.get_task_id(), VerifiedTask)
