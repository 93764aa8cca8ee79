"""A swe run's predictions: `lbi export --format swebench-predictions` writes SWE-bench's
format, and grading that file with the local grader (`lbi swe grade`) reproduces the run's
outcomes — for a fixing agent and for a cheating one. Also: the sandbox state is in the
manifest and the report, and a predictions file is checked like any other input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from swe_setup import build_fixture_taskset, require_sandbox
from test_swe_cheats import PASS_ALL

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.swe.predictions import write_predictions
from lbi_icl.runner import latest_records

pytestmark = [pytest.mark.swe, pytest.mark.slow]


@pytest.fixture(scope="module")
def taskset(tmp_path_factory) -> Path:
    require_sandbox()
    return build_fixture_taskset(tmp_path_factory.mktemp("swe_preds"))


def _records(taskset: Path, split: str) -> list[dict]:
    return [json.loads(x) for x in (taskset / f"{split}.jsonl").read_text().splitlines()]


def _script(path: Path, first_actions: dict[str, str]) -> str:
    """A scripted LLM: the first step of each instance (keyed by its base commit, which the
    first observation names) gets its action; any later step submits."""
    rules = [{"regex": r"exit code \d+\n", "response": "Reason: done.\nAction: submit"}]
    rules += [
        {"contains": sha[:12], "response": f"Reason: go.\nAction: {action}"}
        for sha, action in first_actions.items()
    ]
    path.write_text(json.dumps({"rules": rules}))
    return f"scripted:{path}"


def _run(taskset: Path, out: Path, llm: str, *extra: str) -> int:
    argv = ["run", "--env", "swe", "--split", "test", "--policy", "llm", "--llm", llm]
    if "--task-ids" not in extra:
        argv += ["--tasks", "all"]
    argv += ["--out", str(out), "--max-steps", "3", "--no-progress"]
    argv += ["--env-option", f"tasks_file={taskset}"]
    argv += ["--env-option", f"cache_dir={taskset.parent / 'cache'}", *extra]
    return cli_main(argv)


def _one_line(text: str) -> str:
    """A shell expression printing `text`, on one line (an action is one line)."""
    return f"echo {base64.b64encode(text.encode()).decode()} | base64 -d"


def _fix(rec: dict) -> str:
    return f"{_one_line(rec['patch'])} | git apply -"


def _cheat(rec: dict) -> str:
    return f"{_one_line(PASS_ALL)} > conftest.py"


@pytest.mark.parametrize(("action", "resolved"), [(_fix, True), (_cheat, False)])
def test_exported_predictions_grade_to_the_runs_outcomes(taskset, tmp_path, action, resolved):
    recs = _records(taskset, "test")
    llm = _script(tmp_path / "script.json", {r["base_commit"]: action(r) for r in recs})
    out = tmp_path / "run"
    assert _run(taskset, out, llm) == 0
    episodes = latest_records(out)
    assert len(episodes) == len(recs)
    for ep in episodes.values():  # a failed episode, never an error
        assert ep.error is None and ep.stop_reason == "done" and ep.success is resolved
    preds_path = tmp_path / "preds.jsonl"
    assert cli_main(["export", str(out), "--format", "swebench-predictions",
                     "--out", str(preds_path)]) == 0  # fmt: skip
    lines = [json.loads(x) for x in preds_path.read_text().splitlines()]
    assert sorted(x["instance_id"] for x in lines) == sorted(r["instance_id"] for r in recs)
    for line in lines:
        assert set(line) == {"instance_id", "model_name_or_path", "model_patch"}
        assert line["model_name_or_path"] == f"lbi_icl/llm:{llm}/none"
        assert ("minicalc/core.py" in line["model_patch"]) is resolved
        assert "conftest" not in line["model_patch"]  # what was graded, not what was written
    report = tmp_path / "grade.json"
    argv = ["swe", "grade", str(preds_path), "--tasks-file", str(taskset), "--out", str(report)]
    argv += ["--env-option", f"cache_dir={taskset.parent / 'cache'}"]
    assert cli_main(argv) == 0
    graded = json.loads(report.read_text())
    by_id = {i["instance_id"]: i for i in graded["instances"]}
    for ep in episodes.values():
        assert by_id[ep.task_id]["resolved"] is ep.success
        assert by_id[ep.task_id]["score"] == ep.score


def test_a_prediction_is_filtered_like_a_submission(taskset, tmp_path, capsys):
    """A predictions file from elsewhere gets no more trust than an agent: a conftest.py in
    its patch is dropped before grading."""
    rec = _records(taskset, "test")[0]
    conftest = "".join(f"+{line}\n" for line in PASS_ALL.splitlines())
    patch = (
        "diff --git a/conftest.py b/conftest.py\nnew file mode 100644\n--- /dev/null\n"
        f"+++ b/conftest.py\n@@ -0,0 +1,{len(PASS_ALL.splitlines())} @@\n{conftest}"
    )
    preds = tmp_path / "p.jsonl"
    pred = {"instance_id": rec["instance_id"], "model_name_or_path": "m", "model_patch": patch}
    preds.write_text(json.dumps(pred) + "\n")
    argv = ["swe", "grade", str(preds), "--tasks-file", str(taskset), "--out", str(tmp_path / "r")]
    assert cli_main([*argv, "--env-option", f"cache_dir={taskset.parent / 'cache'}"]) == 0
    (result,) = json.loads((tmp_path / "r").read_text())["instances"]
    assert result["resolved"] is False and result["excluded"] == ["conftest.py"]
    # bad input: the file and line are named, nothing is graded
    preds.write_text(json.dumps(pred) + "\n" + json.dumps({"model_patch": ""}) + "\n")
    assert cli_main(argv) == 1
    assert f"{preds}:2: field 'instance_id': Field required" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"ends in \.jsonl or \.json"):
        write_predictions(tmp_path / "p.txt", [])


def test_sandbox_state_is_in_the_manifest_and_the_report(taskset, tmp_path, capsys):
    recs = _records(taskset, "test")
    llm = _script(tmp_path / "s.json", {r["base_commit"]: "ls" for r in recs})
    on, off = tmp_path / "on", tmp_path / "off"
    assert _run(taskset, on, llm, "--task-ids", recs[0]["instance_id"]) == 0
    args = ("--task-ids", recs[0]["instance_id"], "--env-option", "sandbox=off")
    assert _run(taskset, off, llm, *args) == 0
    notes_on = json.loads((on / "manifest.json").read_text())["env"]["notes"]
    notes_off = json.loads((off / "manifest.json").read_text())["env"]["notes"]
    assert notes_on[0].startswith("sandbox=on") and notes_off[0].startswith("WARNING sandbox=off")
    capsys.readouterr()
    assert cli_main(["report", str(off), "--format", "md"]) == 0
    assert "swe: WARNING sandbox=off" in capsys.readouterr().out
