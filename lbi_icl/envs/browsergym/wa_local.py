"""A BrowserGym task for WebArena-format task configs that are not in the packaged 812
(your own sites, or a test site on 127.0.0.1), judged by WebArena's own evaluators.

Runs in the browser worker. The scoring is the same as browsergym-webarena's
`GenericWebArenaTask.validate`: the last chat message from the agent (`send_msg_to_user`)
is the answer, `report_infeasible` answers "N/A", and `webarena.evaluation_harness`'s
`evaluator_router(config)` scores the answer and the pages (string_match, url_match,
program_html). Registered as the gym id `browsergym/lbi.webarena_local`; the config comes
in `task_kwargs={"config": {...}}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import urllib.parse
from typing import Any

from browsergym.core.registration import register_task
from browsergym.core.task import AbstractBrowserTask

from lbi_icl.envs.browsergym.wa_judge import installed as judge_installed
from lbi_icl.envs.browsergym.webarena import evaluator_needs, nltk_punkt_available

GYM_ID = "browsergym/lbi.webarena_local"


class EvaluatorUnavailableError(RuntimeError):
    """WebArena's evaluator needs something this machine does not have (names it)."""


def _check_needs(config: dict[str, Any]) -> None:
    for need in evaluator_needs(config):
        if (
            need == "OPENAI_API_KEY"
            and not judge_installed()
            and not os.environ.get("OPENAI_API_KEY")
        ):
            raise EvaluatorUnavailableError(
                f"task {config.get('task_id')}: its string_match uses fuzzy_match, which "
                "WebArena's evaluator answers by calling an LLM; run with --llm SPEC, "
                "--env-option judge_llm=..., or set OPENAI_API_KEY"
            )
        if need == "nltk punkt_tab" and not nltk_punkt_available():
            raise EvaluatorUnavailableError(
                f"task {config.get('task_id')}: its string_match has one one-character "
                "must_include phrase, which WebArena's evaluator tokenizes with nltk's "
                "'punkt_tab' data; install it ahead with `python -m nltk.downloader "
                "punkt_tab` (nothing is downloaded at run time)"
            )


class LocalWebArenaTask(AbstractBrowserTask):
    """One WebArena-format task config, scored by WebArena's evaluators."""

    def __init__(self, seed: int, config: dict[str, Any], slow_mo: int = 100) -> None:
        super().__init__(seed)
        self.config = dict(config)
        self.viewport = {"width": 1280, "height": 720}
        self.slow_mo = slow_mo
        self.timeout = 10000
        self.config_file: str | None = None
        self.evaluator: Any = None

    @classmethod
    def get_task_id(cls) -> str:
        return GYM_ID.removeprefix("browsergym/")

    def setup(self, page: Any) -> tuple[str, dict[str, Any]]:
        _check_needs(self.config)
        from webarena.evaluation_harness.evaluators import evaluator_router

        fd, path = tempfile.mkstemp(prefix="lbi-webarena-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.config, fh)
        self.config_file = path
        self.evaluator = evaluator_router(path)
        starts = [u for u in str(self.config.get("start_url") or "").split(" |AND| ") if u]
        for i, url in enumerate(starts):
            page.goto(url)
            if i < len(starts) - 1:
                page = page.context.new_page()
        return str(self.config["intent"]), {}

    def _allowed(self) -> set[str]:
        urls = str(self.config.get("start_url") or "").split(" |AND| ")
        urls += [os.environ.get(k, "") for k in os.environ if k.startswith("WA_")]
        return {urllib.parse.urlparse(u).netloc for u in urls if u} | {""}

    def validate(self, page: Any, chat_messages: list[Any]) -> tuple[float, bool, str, dict]:
        allowed = self._allowed()
        for open_page in page.context.pages:
            if urllib.parse.urlparse(open_page.url).netloc not in allowed:
                return 0.0, True, "", {"error": f"left the task's sites: {open_page.url}"}
        from webarena.browser_env.actions import ActionTypes

        last = chat_messages[-1] if chat_messages else None
        if last and last["role"] == "assistant":
            action = {"action_type": ActionTypes.STOP, "answer": last["message"]}
        elif last and last["role"] == "infeasible":
            action = {"action_type": ActionTypes.STOP, "answer": "N/A"}
        else:
            action = {"action_type": ActionTypes.NONE, "answer": ""}
        score = float(
            self.evaluator(
                trajectory=[{}, action], config_file=self.config_file, page=page, client=None
            )
        )
        done = score > 0 or action["action_type"] == ActionTypes.STOP
        return score, done, "", {"score": score}

    def teardown(self) -> None:
        if self.config_file:
            with contextlib.suppress(OSError):
                os.unlink(self.config_file)
            self.config_file = None


register_task(LocalWebArenaTask.get_task_id(), LocalWebArenaTask)
