"""A MiniWoB++ run in Chromium with `obs=axtree+som` and a vision model behind the OpenAI
wire (loopback stub that records requests): a set-of-marks PNG per step lands in the run
folder (`RUN/screens/...`), each step log names it (`info.screenshot`, `images`), the
request carries it as an image part, `lbi view` shows it; the episode's instruction is the
page's own goal; no observation, step log or record holds the machine's MiniWoB path; the
run manifest and `lbi report` name the protocol."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("browsergym.miniwob")

from llm_servers import OpenAIStubServer, clear_llm_env

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.browsergym.launch import find_chromium
from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv, miniwob_html_dir
from lbi_icl.runner import latest_records

pytestmark = [
    pytest.mark.web,
    pytest.mark.skipif(find_chromium() is None, reason="needs chromium (apt-get install chromium)"),
]


def _answer(request: dict) -> str:
    """Solves enter-text from the tree in the prompt's current observation."""
    content = request["messages"][-1]["content"]
    text = content[0]["text"] if isinstance(content, list) else content
    current = text.split("## Current observation", 1)[1]
    goal = re.search(r'Goal: Enter "([^"]+)"', current)
    box = re.search(r"\[(\d+)\] textbox '([^']*)'", current)
    submit = re.search(r"\[(\d+)\] button 'Submit'", current)
    assert goal and box and submit, current
    line = current.split(f"[{box.group(1)}]")[1].split("\n")[0]
    if "value=" not in line:
        return f'Reason: type it.\nAction: fill("{box.group(1)}", "{goal.group(1)}")'
    return f'Reason: submit.\nAction: click("{submit.group(1)}")'


def test_a_vision_run_writes_sends_and_shows_set_of_marks_screenshots(
    tmp_path, monkeypatch
) -> None:
    clear_llm_env(monkeypatch)
    run = tmp_path / "run"
    (task_id,) = [t.id for t in MiniWoBEnv(task_names=["enter-text"]).tasks("test")[:1]]
    with OpenAIStubServer(_answer) as srv:
        argv = ["run", "--env", "miniwob", "--task-ids", task_id, "--split", "test"]
        argv += ["--policy", "llm", "--llm", "openai:gpt-4o-mini", "--llm-base-url"]
        argv += [srv.base_url, "--retrieval", "none", "--max-steps", "4", "--out", str(run)]
        argv += ["--env-option", 'obs="axtree+som"', "--env-option", "slow_mo=0"]
        argv += ["--env-option", "timeout_ms=30000", "--no-progress"]
        assert cli_main(argv) == 0
        requests = srv.requests
    (rec,) = latest_records(run).values()
    assert rec.success and rec.steps == 2
    # the page's goal is the episode's instruction (the task text is its description)
    assert (
        rec.instruction.startswith('Enter "')
        and rec.instruction != "Enter given text to a textfield."
    )
    steps = [json.loads(line) for line in (run / rec.steps_log).read_text().splitlines()]
    shots = sorted((run / "screens").rglob("*.png"))
    assert [p.name for p in shots] == ["step-000.png", "step-001.png", "step-002.png"]
    for i, step in enumerate(steps):
        sent = step["images"]
        assert len(sent) == 1 and sent[0].endswith(f"step-{i:03d}.png")
        assert step["info"]["screenshot"].endswith(f"step-{i + 1:03d}.png")
        # the request of this step carries exactly that file as an image part
        parts = requests[i]["messages"][-1]["content"]
        url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
        assert base64.b64decode(url.split(",", 1)[1]) == Path(sent[0]).read_bytes()
    # no machine path anywhere an agent, an index or a reader sees
    local = str(miniwob_html_dir())
    for path in [run / rec.steps_log, run / "episodes.jsonl", run / rec.trajectory_file]:
        text = path.read_text()
        assert local not in text and "file://" not in text, path
    assert "URL: miniwob://enter-text.html" in steps[0]["observation"]
    # protocol in the manifest and the report's header; the viewer gets the screenshot
    notes = json.loads((run / "manifest.json").read_text())["env"]["notes"]
    assert notes[0].startswith("protocol browsergym: benchmark miniwob")
    md = tmp_path / "report.md"
    assert cli_main(["report", str(run), "--format", "md", "--output", str(md)]) == 0
    assert notes[0] in md.read_text().split("|")[0]
    assert cli_main(["view", str(run)]) == 0
    shards = "".join(p.read_text() for p in (run / "view" / "data" / "steps").glob("*.js"))
    assert "step-001.png" in shards and "screens" in shards
