"""WebArena through the adapter: the 812 configs listed offline, the clear error without
sites (`lbi run` exits 1 before any episode), and WebArena's own evaluators
(string_match, url_match, program_html) judging tasks written for a small site this test
serves on 127.0.0.1 — a scripted policy that solves them scores 1, one that fails scores 0.
Needs WebArena's evaluators (`bash .ci/setup-webarena.sh`, which CI runs) and Debian's
chromium (`.ci/setup-web.sh`): skipped without them, a failure under CI (CI set)."""

from __future__ import annotations

import http.server
import json
import threading
from functools import partial

import pytest
from web_setup import fail_under_ci, require_setup

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.browsergym.webarena import WA_SETTINGS, WebArenaEnv

MISSING = require_setup(
    ("browsergym.core", "browsergym.webarena", "webarena.evaluation_harness"), chromium=True
)


@pytest.fixture(autouse=True)
def _installed() -> None:
    fail_under_ci(MISSING)


pytestmark = pytest.mark.web

PAGES = {
    "index.html": "<html><head><title>Shop</title></head><body><h1>Shop</h1>"
    "<p>Total: 42 USD</p><a href='orders.html'>Orders</a></body></html>",
    "orders.html": "<html><head><title>Orders</title></head><body><h1>Orders</h1>"
    "<p>Order 17 shipped</p></body></html>",
    "form.html": "<html><head><title>Search</title></head><body>"
    "<input id='q' aria-label='Query'><button onclick=\"document.getElementById('result')"
    ".textContent=document.getElementById('q').value\">Go</button><div id='result'></div>"
    "</body></html>",
}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for name, html in PAGES.items():
        (root / name).write_text(html)
    handler = partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _configs(base: str) -> list[dict]:
    common = {"sites": ["shop"], "require_login": False, "geolocation": None}
    return [
        {
            **common,
            "task_id": 1,
            "intent": "What is the total on the home page?",
            "start_url": f"{base}/index.html",
            "eval": {
                "eval_types": ["string_match"],
                "reference_answers": {"must_include": ["42", "USD"]},
                "reference_url": "",
                "program_html": [],
            },
        },
        {
            **common,
            "task_id": 2,
            "intent": "Open the orders page.",
            "start_url": f"{base}/index.html",
            "eval": {
                "eval_types": ["url_match"],
                "reference_answers": None,
                "reference_url": f"{base}/orders.html",
                "url_note": "GOLD in PRED",
                "program_html": [],
            },
        },
        {
            **common,
            "task_id": 3,
            "intent": "Search for 'hello'.",
            "start_url": f"{base}/form.html",
            "eval": {
                "eval_types": ["program_html"],
                "reference_answers": None,
                "reference_url": "",
                "program_html": [
                    {
                        "url": "last",
                        "locator": "document.querySelector('#result').textContent",
                        "required_contents": {"exact_match": "hello"},
                    }
                ],
            },
        },
    ]


def _bid(obs: str, role: str, name: str) -> str:
    for line in obs.splitlines():
        s = line.strip()
        if s.startswith("[") and f"] {role} '{name}'" in s:
            return s[1 : s.index("]")]
    raise AssertionError(f"no {role} {name!r} in\n{obs}")


def _solve(task_id: int, obs: str) -> list[str]:
    if task_id == 1:
        return ['send_msg_to_user("The total is 42 USD")']
    if task_id == 2:
        return [f'click("{_bid(obs, "link", "Orders")}")']
    return [
        f'fill("{_bid(obs, "textbox", "Query")}", "hello")',
        f'click("{_bid(obs, "button", "Go")}")',
    ]


def _fail(task_id: int, obs: str) -> list[str]:
    if task_id == 1:
        return ['send_msg_to_user("17")']
    if task_id == 2:
        return ['send_msg_to_user("done")']
    return [
        f'fill("{_bid(obs, "textbox", "Query")}", "bye")',
        f'click("{_bid(obs, "button", "Go")}")',
        'send_msg_to_user("done")',
    ]


@pytest.fixture(scope="module")
def env(site, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tasks.json"
    path.write_text(json.dumps(_configs(site)))
    e = WebArenaEnv(task_configs=path)
    yield e
    e.close()


@pytest.mark.parametrize("policy", ["solve", "fail"])
def test_webarena_evaluators_judge_local_tasks(env, policy) -> None:
    env.check_ready()
    for task in env.tasks("test"):
        tid = task.metadata["task_id"]
        obs = env.reset(task)
        assert obs.startswith(f"Goal: {task.instruction}")
        plan = (_solve if policy == "solve" else _fail)(tid, obs)
        res = None
        for action in plan:
            res = env.step(action)
            if res.done:
                break
        assert res is not None and res.done, (tid, policy)
        expected = 1.0 if policy == "solve" else 0.0
        assert (res.reward, res.info["success"]) == (expected, policy == "solve"), (tid, policy)


def test_packaged_tasks_list_offline_and_run_stops_without_sites(
    tmp_path, monkeypatch, capsys
) -> None:
    for key in WA_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    tasks = WebArenaEnv().tasks("test")
    assert len(tasks) == 812 and tasks[0].id == "webarena.0"
    assert {"string_match", "url_match", "program_html"} <= {
        t for task in tasks for t in task.metadata["eval_types"]
    }
    out = tmp_path / "run"
    argv = ["run", "--env", "webarena", "--tasks", "2", "--policy", "retrieval"]
    argv += ["--retrieval", "none", "--out", str(out), "--no-progress"]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert "WA_SHOPPING" in err and "WA_HOMEPAGE" in err
    assert not (out / "episodes.jsonl").exists() or not (out / "episodes.jsonl").read_text()


def _fuzzy_config(base: str) -> dict:
    return {
        "sites": ["shop"],
        "require_login": False,
        "geolocation": None,
        "task_id": 4,
        "intent": "How much is the total on the home page?",
        "start_url": f"{base}/index.html",
        "eval": {
            "eval_types": ["string_match"],
            "reference_answers": {"fuzzy_match": ["42 USD"]},
            "reference_url": "",
            "program_html": [],
        },
    }


def _grade(request: dict) -> str:
    """A stub judge: WebArena's grading prompt in, its verdict words out."""
    prompt = request["messages"][-1]["content"]
    assert "reference answer: 42 USD" in prompt and "student answer:" in prompt
    answer = prompt.split("student answer:", 1)[1]
    return "correct" if "42" in answer else "incorrect"


def test_fuzzy_match_is_judged_by_the_runs_llm(site, tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    from llm_servers import OpenAIStubServer, clear_llm_env

    from lbi_icl.envs.browsergym.webarena import SitesNotReadyError

    clear_llm_env(monkeypatch)
    path = tmp_path / "fuzzy.json"
    path.write_text(json.dumps([_fuzzy_config(site)]))
    with pytest.raises(SitesNotReadyError, match=r"1 task\(s\) are judged by an LLM"):
        WebArenaEnv(task_configs=path).check_ready()  # said before any episode
    with OpenAIStubServer(_grade) as srv:
        env = WebArenaEnv(task_configs=path)
        env.bind_run(
            SimpleNamespace(
                out=str(tmp_path / "run"), llm="openai:judge-model", llm_base_url=srv.base_url
            )
        )
        try:
            env.check_ready()
            assert "judged by openai:judge-model (the run's --llm)" in " ".join(env.run_notes())
            scores = []
            for answer in ("It is 42 USD.", "17 EUR"):
                task = env.tasks("test")[0]
                env.reset(task)
                res = env.step(f'send_msg_to_user("{answer}")')
                assert res.done and res.info["judge"] == {"spec": "openai:judge-model", "calls": 1}
                scores.append(res.reward)
        finally:
            env.close()
        assert len(srv.requests) == 2
    assert scores == [1.0, 0.0]
