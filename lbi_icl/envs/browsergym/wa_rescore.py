"""`lbi rescore` for WebArena: an ended episode graded again by WebArena's own evaluators from
what its log recorded, never from the score the log claims.

What the log holds for this: the last step's `info["final_state"]` (`BrowserGymEnv.final_state`
and `WebArenaEnv.final_state`): the active page's URL, every open tab's URL, the last chat
message (the agent's answer) and the site URLs the run's configs were rendered with. From it,
as BrowserGym's `GenericWebArenaTask.validate` (packaged tasks) or `wa_local.py` (own
configs) do on the live page:

- an open tab outside the task's sites scores 0;
- the answer is the last `assistant` message (send_msg_to_user), "N/A" after
  report_infeasible, else no answer ("whatever" for packaged tasks, "" for own configs);
- `string_match` (exact_match, must_include) and `url_match` run as WebArena's
  `StringEvaluator` / `URLEvaluator` -- the package's classes, on the task's own config
  (the packaged `test.raw.json` or the run's `task_configs`), with a stand-in page that has
  only the recorded URL. They run in a child process (`SubprocessWorker`): importing
  WebArena's evaluators needs the `WA_*` site variables set and prints them.

Not rescored (`CannotRescore`, with the reason): `program_html` (JavaScript locators run on
the live site's pages, or other URLs fetched from it), `fuzzy_match` answers and "N/A"
answers with reasons (WebArena asks an LLM judge, which is not offline), a one-character
`must_include` without nltk's punkt_tab data, and logs written before `final_state` was
recorded. An episode the env never ended (the agent stopped first) is a failure by the env's
rule (success needs the episode to end with a positive score).
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
from typing import Any

from lbi_icl.data import Task
from lbi_icl.envs.base import CannotRescore, EnvError, Rescored
from lbi_icl.envs.guard import RemoteError, SubprocessWorker, WorkerCrashed, WorkerTimeout

# BrowserGym's GenericWebArenaTask: placeholder -> the setting whose URL replaces it, in its
# order (the whole config text is rewritten)
PLACEHOLDERS = {
    "__GITLAB__": "WA_GITLAB",
    "__REDDIT__": "WA_REDDIT",
    "__SHOPPING__": "WA_SHOPPING",
    "__SHOPPING_ADMIN__": "WA_SHOPPING_ADMIN",
    "__WIKIPEDIA__": "WA_WIKIPEDIA",
    "__MAP__": "WA_MAP",
}
OFFLINE_TYPES = ("string_match", "url_match")
GRADE_TIMEOUT_S = 120.0
# what WebArena's env_config asserts on import (never contacted: only string and URL checks run)
UNUSED_SITE = "http://127.0.0.1:9"
SITE_VARS = ("REDDIT", "SHOPPING", "SHOPPING_ADMIN", "GITLAB", "WIKIPEDIA", "MAP", "HOMEPAGE")

PROGRAM_HTML = (
    "its evaluator includes program_html, which runs JavaScript locators on the live site's "
    "pages (or fetches other URLs from it); a run log cannot hold that"
)


class Grader:
    """The child process that imports WebArena's evaluators (started on first use)."""

    def __init__(self) -> None:
        self._worker: SubprocessWorker | None = None

    def grade(self, config: dict[str, Any], last_message: Any, url: str, packaged: bool) -> float:
        if self._worker is None:
            self._worker = SubprocessWorker(name="lbi-webarena-rescore")
        try:
            out = self._worker.call(
                grade, config, last_message, url, packaged, timeout_s=GRADE_TIMEOUT_S
            )
        except (WorkerTimeout, WorkerCrashed, RemoteError) as e:
            raise EnvError(f"WebArena's evaluator failed: {e}") from e
        if "cannot" in out:
            raise CannotRescore(str(out["cannot"]))
        return float(out["score"])

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


def rescore_episode(
    env: Any, grader: Grader, task: Task, steps: list[dict[str, Any]]
) -> Rescored | None:
    """`WebArenaEnv.rescore`: see the module docstring. None when the log has no step."""
    if not steps:
        return None
    packaged = env.task_configs is None
    config = _config(env, task)
    types = list((config.get("eval") or {}).get("eval_types") or [])
    if "program_html" in types:
        raise CannotRescore(PROGRAM_HTML)
    unknown = [t for t in types if t not in OFFLINE_TYPES]
    if unknown or not types:
        raise CannotRescore(f"its eval_types {types} are not ones WebArena grades offline")
    ended = [s for s in steps if s.get("done")]
    if not ended:
        n = max((int(s.get("step", 0)) for s in steps), default=0)
        note = (
            f"the env never ended the episode (the agent stopped at step {n}): a failure by "
            "the env's rule (success needs the episode to end with a positive score)"
        )
        return Rescored(success=False, score=0.0, note=note)
    final = (ended[0].get("info") or {}).get("final_state")
    if not isinstance(final, dict) or not isinstance(final.get("url"), str):
        raise CannotRescore(
            "its log has no final state (info.final_state: the answer and URL the episode "
            "ended on), which runs record since lbi rescore grades WebArena"
        )
    sites = {k: str(v) for k, v in (final.get("sites") or {}).items() if v}
    if packaged:
        config = render(config, sites)
    left = outside(config, final, sites, packaged)
    if left is not None:
        return Rescored(success=False, score=0.0, note=f"a tab left the task's sites: {left}")
    score = grader.grade(config, final.get("last_message"), final["url"], packaged)
    return Rescored(success=bool(env.success(score, True, {})), score=score)


def _config(env: Any, task: Task) -> dict[str, Any]:
    tid = task.metadata.get("task_id")
    for cfg in env.configs():
        if cfg.get("task_id") == tid:
            return json.loads(json.dumps(cfg))  # a copy
    raise CannotRescore(f"no config for task_id {tid!r} in the env's task configs")


def render(config: dict[str, Any], sites: dict[str, str]) -> dict[str, Any]:
    """A packaged config with its site placeholders replaced by the URLs the run used, as
    BrowserGym renders `test.raw.json`."""
    text = json.dumps(config)
    for placeholder, setting in PLACEHOLDERS.items():
        if placeholder not in text:
            continue
        if setting not in sites:
            raise CannotRescore(
                f"its config names {placeholder}, and the run recorded no {setting} URL"
            )
        text = text.replace(placeholder, sites[setting])
    return json.loads(text)  # type: ignore[no-any-return]


def outside(
    config: dict[str, Any], final: dict[str, Any], sites: dict[str, str], packaged: bool
) -> str | None:
    """The first open tab outside the task's sites (BrowserGym's check), or None."""
    if packaged:  # GenericWebArenaTask: the instance's six sites and its homepage
        allowed = {"newtab", ""} | {_netloc(sites.get(k, "")) for k in PLACEHOLDERS.values()}
        allowed.add(_netloc(sites.get("WA_HOMEPAGE", "")))
    else:  # wa_local.py: the start URLs' hosts and every WA_* of the browser worker
        starts = str(config.get("start_url") or "").split(" |AND| ")
        allowed = {_netloc(u) for u in [*starts, *sites.values()] if u} | {""}
    for url in final.get("open_urls") or [final["url"]]:
        if _netloc(str(url)) not in allowed:
            return str(url)
    return None


def _netloc(url: str) -> str:
    return urllib.parse.urlparse(url).netloc


# -- in the child process -------------------------------------------------------------------


class _NeedsJudge(Exception):
    pass


def grade(config: dict[str, Any], last_message: Any, url: str, packaged: bool) -> dict[str, Any]:
    """(in the child) {"score": x} from WebArena's evaluators, or {"cannot": why}."""
    for var in SITE_VARS:  # read by WebArena's env_config on import
        os.environ.setdefault(var, os.environ.get(f"WA_{var}") or UNUSED_SITE)
    import contextlib
    import io
    import warnings

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # beartype's deprecation notes on gymnasium's hints
        from webarena.browser_env.actions import ActionTypes
        from webarena.evaluation_harness.evaluators import StringEvaluator, URLEvaluator
        from webarena.evaluation_harness.helper_functions import PseudoPage

    class OfflineString(StringEvaluator):  # type: ignore[misc]
        """WebArena's string_match, except that asking the LLM judge is refused."""

        @staticmethod
        def fuzzy_match(ref: str, pred: str, intent: str) -> float:
            raise _NeedsJudge("fuzzy_match")

        @staticmethod
        def ua_match(ref: str, pred: str, intent: str) -> float:
            raise _NeedsJudge("an N/A answer's reason (ua_match)")

    role = last_message.get("role") if isinstance(last_message, dict) else None
    if role == "assistant":
        action = {"action_type": ActionTypes.STOP, "answer": str(last_message["message"])}
    elif role == "infeasible":
        action = {"action_type": ActionTypes.STOP, "answer": "N/A"}
    else:
        action = {"action_type": ActionTypes.NONE, "answer": "whatever" if packaged else ""}
    evaluators = {"string_match": OfflineString, "url_match": URLEvaluator}
    fd, path = tempfile.mkstemp(prefix="lbi-rescore-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(config, fh)
    try:
        score = 1.0
        for etype in config["eval"]["eval_types"]:
            evaluator = evaluators[etype]()
            score *= float(
                evaluator(
                    trajectory=[{}, action],
                    config_file=path,
                    page=PseudoPage(None, url),
                    client=None,
                )
            )
        return {"score": score}
    except _NeedsJudge as e:
        return {"cannot": f"its string_match needs {e}, which WebArena asks an LLM to judge"}
    except LookupError:  # nltk's data, for a one-character must_include
        return {"cannot": "its string_match needs nltk's punkt_tab data, not installed here"}
    except AssertionError:
        if packaged:  # BrowserGym's validate: an evaluator's assertion scores 0
            return {"score": 0.0}
        raise
    finally:
        os.unlink(path)
