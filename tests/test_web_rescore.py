"""`lbi rescore` on web runs. A WebArena run of own configs on a site served on 127.0.0.1 (the
site of test_web_webarena), by a scripted LLM: `lbi rescore` grades string_match and
url_match again from the final state the episodes recorded (answer, URL, tabs) with
WebArena's own evaluators and reproduces every outcome; program_html is not rescored, with
the reason; a tampered claim (success / score in episodes.jsonl and the step log) changes
nothing, a tampered answer does. Without a browser: LLM-judged answers are not rescored, an
open tab off the task's sites scores 0 as in the run, a log without a final state says so,
and MiniWoB says why it cannot rescore at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_web_webarena import _configs, site  # noqa: F401  (site: the module's fixture)

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.base import CannotRescore
from lbi_icl.envs.browsergym.webarena import WebArenaEnv
from lbi_icl.runner import latest_records
from lbi_icl.runner.rescore import offline_scorer
from lbi_icl.runner.runlog import read_record_file

pytestmark = pytest.mark.web

WRONG = {  # a fourth task, answered wrongly by the script
    "sites": ["shop"], "require_login": False, "geolocation": None, "task_id": 5,
    "intent": "Which order shipped?", "start_url": "{base}/orders.html",
    "eval": {
        "eval_types": ["string_match"], "reference_answers": {"must_include": ["17"]},
        "reference_url": "", "program_html": [],
    },
}  # fmt: skip


def _tasks_file(tmp_path: Path, base: str, extra: list[dict] | None = None) -> Path:
    wrong = json.loads(json.dumps(WRONG).replace("{base}", base))
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([*_configs(base), wrong, *(extra or [])]))
    return path


def _script(path: Path, base: str) -> str:
    answers = {
        "What is the total on the home page?": 'send_msg_to_user("The total is 42 USD")',
        "Open the orders page.": f'goto("{base}/orders.html")',
        "Search for 'hello'.": 'send_msg_to_user("done")',
        "Which order shipped?": 'send_msg_to_user("order 42")',
    }
    rules = [{"contains": k, "response": f"Reason: go.\nAction: {a}"} for k, a in answers.items()]
    path.write_text(json.dumps({"rules": rules}))
    return f"scripted:{path}"


def _rescore(run: Path, out: Path, capsys) -> dict[str, tuple]:
    capsys.readouterr()
    assert cli_main(["rescore", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    assert len(read_record_file(out)) == 4  # episodes.jsonl's format
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    return {r["task_id"]: (r["success"], r["score"], r["rescore"]["rescored"]) for r in rows}


def test_a_webarena_run_rescored_from_its_final_states(site, tmp_path, capsys) -> None:  # noqa: F811
    tasks = _tasks_file(tmp_path, site)
    run = tmp_path / "run"
    argv = ["run", "--env", "webarena", "--env-option", f"task_configs={tasks}"]
    argv += ["--tasks", "all", "--policy", "llm", "--llm", _script(tmp_path / "s.json", site)]
    argv += ["--retrieval", "none", "--max-steps", "2", "--out", str(run), "--no-progress"]
    argv += ["--set", "agent.require_valid_action=false"]  # answers are free text
    assert cli_main(argv) == 0
    recs = {r.task_id: r for r in latest_records(run).values()}
    assert {t: (r.success, r.steps) for t, r in recs.items()} == {
        "webarena.1": (True, 1), "webarena.2": (True, 1),
        "webarena.3": (False, 1), "webarena.5": (False, 1),
    }  # fmt: skip
    final = json.loads((run / recs["webarena.5"].steps_log).read_text())["info"]["final_state"]
    assert final["url"] == f"{site}/orders.html" and final["open_urls"] == [final["url"]]
    assert final["last_message"] == {"role": "assistant", "message": "order 42"}

    got = _rescore(run, tmp_path / "a.jsonl", capsys)
    assert got == {
        "webarena.1": (True, 1.0, True), "webarena.2": (True, 1.0, True),
        "webarena.3": (False, 0.0, False), "webarena.5": (False, 0.0, True),
    }  # fmt: skip
    rows = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    (row,) = [r for r in rows if r["task_id"] == "webarena.3"]
    assert row["rescore"]["note"].startswith("not rescored: its evaluator includes program_html")

    # the log's claims tampered with: episodes.jsonl and the step log say task 5 succeeded
    lines = [json.loads(x) for x in (run / "episodes.jsonl").read_text().splitlines()]
    for line in lines:
        if line["task_id"] == "webarena.5":
            line.update(success=True, score=1.0)
    (run / "episodes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    log = run / recs["webarena.5"].steps_log
    step = json.loads(log.read_text())
    step["reward"] = 1.0
    step["info"].update(success=True, score=1.0)
    log.write_text(json.dumps(step) + "\n")
    got = _rescore(run, tmp_path / "b.jsonl", capsys)
    assert got["webarena.5"] == (False, 0.0, True)  # graded, not believed
    # the evidence tampered with: the recorded answer now names order 17
    step["info"]["final_state"]["last_message"]["message"] = "order 17"
    log.write_text(json.dumps(step) + "\n")
    assert _rescore(run, tmp_path / "c.jsonl", capsys)["webarena.5"] == (True, 1.0, True)


def _ended(url: str, message: dict | None, tabs: list[str] | None = None) -> list[dict]:
    final = {"url": url, "open_urls": tabs or [url], "last_message": message, "sites": {}}
    return [{"step": 1, "done": True, "reward": 1.0, "info": {"final_state": final}}]


def test_what_webarena_does_not_rescore_offline(tmp_path) -> None:
    base = "http://127.0.0.1:9"  # never contacted
    fuzzy = {**WRONG, "task_id": 6, "start_url": f"{base}/index.html"}
    fuzzy["eval"] = {**WRONG["eval"], "reference_answers": {"fuzzy_match": ["42 USD"]}}
    env = WebArenaEnv(task_configs=_tasks_file(tmp_path, base, [fuzzy]))
    try:
        tasks = {t.metadata["task_id"]: t for t in env.tasks("test")}
        say = {"role": "assistant", "message": "The total is 42 USD"}
        with pytest.raises(CannotRescore, match="fuzzy_match, which WebArena asks an LLM"):
            env.rescore(tasks[6], _ended(f"{base}/index.html", say), None)  # type: ignore[arg-type]
        res = env.rescore(tasks[1], _ended(f"{base}/index.html", say), None)  # type: ignore[arg-type]
        assert res is not None and (res.success, res.score) == (True, 1.0)
        away = _ended(f"{base}/index.html", say, [f"{base}/index.html", "http://example.org/"])
        res = env.rescore(tasks[1], away, None)  # type: ignore[arg-type]
        assert res is not None and not res.success and "left the task's sites" in res.note
        old = [{"step": 1, "done": True, "reward": 1.0, "info": {"success": True}}]
        with pytest.raises(CannotRescore, match="no final state"):
            env.rescore(tasks[1], old, None)  # type: ignore[arg-type]
        stopped = [{"step": 1, "done": False, "info": {"success": True}}]
        res = env.rescore(tasks[2], stopped, None)  # type: ignore[arg-type]
        assert res is not None and not res.success and "never ended" in res.note
    finally:
        env.close()
    for name in ("miniwob", "visualwebarena", "webarena_verified", "workarena"):
        _factory, why = offline_scorer(name)
        assert why is not None and ("live" in why or "trace" in why), (name, why)
    assert offline_scorer("webarena")[1] is None
