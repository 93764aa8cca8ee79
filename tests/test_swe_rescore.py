"""`lbi rescore` on a swe run: the recorded diff graded again on a fresh checkout reproduces
the run's outcome into a new results file (episodes.jsonl untouched), and a tampered
recorded diff changes the rescored outcome. One instance, the fixing agent of
test_swe_predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from swe_setup import build_fixture_taskset, require_sandbox
from test_swe_predictions import _fix, _records, _run, _script

from lbi_icl.cli import main as cli_main
from lbi_icl.runner import latest_records
from lbi_icl.runner.runlog import read_record_file

pytestmark = [pytest.mark.swe, pytest.mark.slow]


@pytest.fixture(scope="module")
def taskset(tmp_path_factory) -> Path:
    require_sandbox()
    return build_fixture_taskset(tmp_path_factory.mktemp("swe_rescore"))


def test_rescore_reproduces_the_outcome_and_sees_a_tampered_diff(taskset, tmp_path, capsys):
    rec = _records(taskset, "test")[0]
    llm = _script(tmp_path / "script.json", {rec["base_commit"]: _fix(rec)})
    run = tmp_path / "run"
    assert _run(taskset, run, llm, "--task-ids", rec["instance_id"]) == 0
    (episode,) = latest_records(run).values()
    assert episode.success is True and episode.stop_reason == "done"
    episodes = (run / "episodes.jsonl").read_bytes()
    cache = ["--env-option", f"cache_dir={taskset.parent / 'cache'}"]

    capsys.readouterr()
    assert cli_main(["rescore", str(run), *cache]) == 0
    out = capsys.readouterr().out
    (written,) = run.glob("rescore-*.jsonl")
    assert f"0 of 1 rescored episodes changed; wrote {written}" in out
    (new,) = read_record_file(written)  # episodes.jsonl's format
    assert (new.key, new.success, new.score) == (episode.key, True, episode.score)
    line = json.loads(written.read_text())
    assert line["format_version"] == 1
    assert line["rescore"] | {"at": None} == {
        "rescored": True, "changed": False, "old_success": True,
        "old_score": episode.score, "note": "", "at": None,
    }  # fmt: skip
    assert (run / "episodes.jsonl").read_bytes() == episodes

    # the recorded diff tampered with: the fix's change to minicalc/core.py undone
    log = run / episode.steps_log
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert "minicalc/core.py" in rows[-1]["info"]["diff"]
    rows[-1]["info"]["diff"] = ""
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = tmp_path / "tampered.jsonl"
    assert cli_main(["rescore", str(run), "--out", str(target), *cache]) == 0
    out = capsys.readouterr().out
    assert f"1 of 1 rescored episodes changed; wrote {target}" in out
    (new,) = read_record_file(target)
    assert new.success is False and new.score is not None and new.score < 1.0
    assert (run / "episodes.jsonl").read_bytes() == episodes
    # never overwrites: an --out that exists (episodes.jsonl too) is refused
    for existing in (target, run / "episodes.jsonl"):
        assert cli_main(["rescore", str(run), "--out", str(existing), *cache]) == 1
        assert "exists; lbi rescore never overwrites" in capsys.readouterr().err
    assert (run / "episodes.jsonl").read_bytes() == episodes
