"""The web recipe through the real CLI on MiniWoB++ in Chromium: synthesize -> index build
-> ablate with the retrieval-only policy, and an LLM run over the OpenAI wire format
against a loopback server (the stub answers by reading the page it is shown)."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("browsergym.miniwob")

from llm_servers import OpenAIStubServer, clear_llm_env

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.browsergym.launch import find_chromium
from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv
from lbi_icl.runner import latest_records

pytestmark = [
    pytest.mark.web,
    pytest.mark.skipif(find_chromium() is None, reason="needs chromium (apt-get install chromium)"),
]

NAMES = '["enter-text", "click-button"]'


def test_synthesize_index_and_ablate_with_the_retrieval_policy(tmp_path) -> None:
    data, index, run = tmp_path / "web.jsonl", tmp_path / "index", tmp_path / "run"
    assert (
        cli_main(
            [
                "synthesize",
                "--env",
                "miniwob",
                "--tasks",
                "2",
                "--env-option",
                f"task_names={NAMES}",
                "--env-option",
                "slow_mo=0",
                "--env-option",
                "timeout_ms=30000",
                "--out",
                str(data),
                "--no-progress",
            ]
        )
        == 0
    )
    examples = [json.loads(line) for line in data.read_text().splitlines()]
    assert examples and {e["env"] for e in examples} == {"miniwob"}
    assert {e["source"]["writer"] for e in examples} == {"template-web"}
    # both tasks have a scripted solver: synthesis demonstrates them (issue 26)
    assert {e["source"]["explorer"] for e in examples} == {"expert"}
    # the rollouts' instruction is the page's own goal, the task's text its description
    for e in examples:
        goal, desc = e["metadata"]["parent_instruction"], e["metadata"]["description"]
        assert goal != desc and '"' in goal, (goal, desc)
        assert "file://" not in json.dumps(e) and "miniwob://" in json.dumps(e)
    report = json.loads((tmp_path / "web.report.json").read_text())
    assert report["counts"]["raw_trajectories"] == 2
    assert all(
        re.search(r'\b(?:click|fill)\("\d+"', s["action"]) for e in examples for s in e["steps"]
    )

    assert (
        cli_main(
            [
                "index",
                "build",
                "--trajectories",
                str(data),
                "--out",
                str(index),
                "--embedder",
                "hash",
            ]
        )
        == 0
    )
    argv = [
        "ablate",
        "--env",
        "miniwob",
        "--split",
        "test",
        "--tasks",
        "2",
        "--set",
        f"env_options.task_names={NAMES}",
        "--set",
        "env_options.slow_mo=0",
        "--set",
        "env_options.timeout_ms=30000",
        "--policy",
        "retrieval",
        "--index",
        str(index),
        "--strategies",
        "none,observation",
        "--max-steps",
        "4",
        "--out",
        str(run),
        "--no-progress",
    ]
    assert cli_main(argv) == 0
    recs = latest_records(run)
    assert len(recs) == 4
    assert all(r.error is None and r.stop_reason != "error" for r in recs.values())
    assert all(r.steps >= 1 for r in recs.values())
    # the report covers both strategies (read from the md file: the terminal table's
    # column widths depend on the console, which truncates names in a narrow CI log)
    md = tmp_path / "report.md"
    assert cli_main(["report", str(run), "--format", "md", "--output", str(md)]) == 0
    assert "observation" in md.read_text() and "none" in md.read_text()


def _answer(request: dict) -> str:
    """Reads the current observation in the prompt and solves enter-text."""
    prompt = request["messages"][-1]["content"]
    current = prompt.split("## Current observation", 1)[1]
    goal = re.search(r'Goal: Enter "([^"]+)"', current)
    box = re.search(r"\[(\d+)\] textbox '([^']*)'", current)
    submit = re.search(r"\[(\d+)\] button 'Submit'", current)
    assert goal and box and submit, current
    if box.group(2) == "" and "value=" not in current.split(f"[{box.group(1)}]")[1].split("\n")[0]:
        return f'Reason: type the word.\nAction: fill("{box.group(1)}", "{goal.group(1)}")'
    return f'Reason: submit.\nAction: click("{submit.group(1)}")'


def test_llm_run_over_the_openai_wire_solves_enter_text(tmp_path, monkeypatch) -> None:
    clear_llm_env(monkeypatch)
    out = tmp_path / "run"
    # two of the benchmark's own enter-text episodes (protocol browsergym)
    ids = [t.id for t in MiniWoBEnv(task_names=["enter-text"]).tasks("test")[:2]]
    with OpenAIStubServer(_answer) as srv:
        argv = [
            "run",
            "--env",
            "miniwob",
            "--task-ids",
            ",".join(ids),
            "--split",
            "test",
            "--policy",
            "llm",
            "--llm",
            "openai:stub-model",
            "--llm-base-url",
            srv.base_url,
            "--retrieval",
            "none",
            "--set",
            "env_options.slow_mo=0",
            "--set",
            "env_options.timeout_ms=30000",
            "--max-steps",
            "4",
            "--out",
            str(out),
            "--no-progress",
        ]
        assert cli_main(argv) == 0
        assert len(srv.requests) >= 4
    recs = latest_records(out)
    assert len(recs) == 2
    for r in recs.values():
        assert r.error is None and r.success and r.stop_reason == "done" and r.steps == 2
