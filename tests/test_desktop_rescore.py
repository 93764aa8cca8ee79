"""`lbi rescore` on desktop runs, with no desktop: the result files an episode's metric read
are saved into the run directory by the live scoring path (`scoring.evaluate` with the
env's `Keeper`, here on a fake desktop that serves generated xlsx files), and `lbi rescore`
runs the task's own compare_table on them with its `expected` gold file: the run's
outcomes come back; a tampered success claim changes nothing; a saved file changed since
the run, or a path out of the run directory, is refused; a metric that reads the live
desktop (the accessibility tree) is not rescored, with the reason; an infeasible task ended
with FAIL needs no file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from test_desktop_units import _FakeDesktop, evaluators_or_skip  # noqa: F401  (a fixture)

from lbi_icl.cli import main as cli_main
from lbi_icl.envs.desktop import final_files, scoring
from lbi_icl.envs.desktop.setup_steps import HostPaths
from lbi_icl.envs.desktop.tasks import OSWorldTask

RULE = {"rules": [{"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}]}
RESULT = {"type": "vm_file", "path": "/home/user/r.xlsx", "dest": "r.xlsx"}
GOLD = {"type": "local_file", "path": "files/gold.xlsx", "dest": "gold.xlsx"}
TASKS = {
    "t1": {"func": "compare_table", "result": RESULT, "expected": GOLD, "options": RULE},
    "t2": {"func": "check_accessibility_tree", "result": {"type": "accessibility_tree"},
           "options": {"rules": [{"selectors": ["table-cell"], "text": "1"}]}},
    "t3": {"func": "infeasible"},
}  # fmt: skip


def _tasks_dir(root: Path, gold: bytes) -> Path:
    for tid, evaluator in TASKS.items():
        task = {"id": tid, "instruction": f"do {tid}", "evaluator": evaluator}
        path = root / "examples" / "calc" / f"{tid}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(task))
    (root / "files").mkdir()
    (root / "files" / "gold.xlsx").write_bytes(gold)
    return root


class _Tree(_FakeDesktop):
    def get_accessibility_tree(self) -> str:
        return "<desktop-frame/>"


def _episode(run: Path, tasks: Path, tid: str, seed: int, action: str, result: bytes) -> dict:
    """One episode ended on the fake desktop: scored and its files kept by the env's own
    code path; its step log and episodes.jsonl line as the runner writes them."""
    spec = OSWorldTask.model_validate(json.loads((tasks / f"examples/calc/{tid}.json").read_text()))
    client = _Tree({"/home/user/r.xlsx": result})
    keep = final_files.Keeper(2**20)
    genv = scoring.GetterEnv(
        controller=client,  # type: ignore[arg-type]
        cache_dir=tempfile.mkdtemp(dir=run.parent),
        paths=HostPaths(tasks),
    )
    score = scoring.evaluate(spec, client, genv, action, keep)  # type: ignore[arg-type]
    final = keep.save(run, f"calc/{tid}")
    key = f"none|calc/{tid}|{seed}"
    log = f"steps/{tid}-{seed}.jsonl"
    step = {"step": 0, "observation": "", "strategy": "none", "prompt_sha256": "", "raw_output": "",
            "action": action, "parsed": True, "executed": True, "done": True, "reward": score,
            "info": {"score": score, "success": score >= 1.0, "final_state": final}}  # fmt: skip
    (run / log).parent.mkdir(exist_ok=True)
    (run / log).write_text(json.dumps(step) + "\n")
    return {"task_id": f"calc/{tid}", "env": "osworld", "strategy": "none", "policy": "x",
            "seed": seed, "success": score >= 1.0, "score": score, "steps": 1,
            "stop_reason": "done", "key": key, "steps_log": log}  # fmt: skip


def _rescore(run: Path, out: Path, capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert cli_main(["rescore", str(run), "--out", str(out)]) == 0
    capsys.readouterr()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    return {r["key"]: r for r in rows}


def test_desktop_episodes_rescored_from_their_saved_files(
    evaluators_or_skip: None,  # noqa: F811
    tmp_path: Path,
    capsys,
) -> None:
    from lbi_icl.envs.desktop.taskgen import files

    good = files.xlsx({"S": [["a", "b"], ["x", 1]]})
    bad = files.xlsx({"S": [["a", "b"], ["x", 2]]})
    tasks = _tasks_dir(tmp_path / "tasks", good)
    run = tmp_path / "run"
    run.mkdir()
    options = {"tasks_dir": str(tasks), "server": "http://127.0.0.1:9"}  # never contacted
    manifest = {"config": {"env": "osworld", "split": "test", "env_options": options}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    recs = [
        _episode(run, tasks, "t1", 0, "DONE", good),
        _episode(run, tasks, "t1", 1, "DONE", bad),
        _episode(run, tasks, "t2", 0, "DONE", good),
        _episode(run, tasks, "t3", 0, "FAIL", good),
    ]
    assert [r["success"] for r in recs] == [True, False, False, True]
    saved = sorted(p.relative_to(run).as_posix() for p in (run / "final_state").rglob("*.xlsx"))
    assert len(saved) == 2 and all(p.startswith("final_state/calc_t1/") for p in saved)
    (run / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))

    got = _rescore(run, tmp_path / "a.jsonl", capsys)
    outcome = {k: (r["success"], r["score"], r["rescore"]["rescored"]) for k, r in got.items()}
    assert outcome == {
        "none|calc/t1|0": (True, 1.0, True), "none|calc/t1|1": (False, 0.0, True),
        "none|calc/t2|0": (False, 0.0, False), "none|calc/t3|0": (True, 1.0, True),
    }  # fmt: skip
    note = got["none|calc/t2|0"]["rescore"]["note"]
    assert note == (
        "not rescored: metric 0: the result getter 'accessibility_tree' reads the live "
        "desktop, which was not saved"
    )

    # a tampered claim: episodes.jsonl and the step log say seed 1 succeeded
    recs[1].update(success=True, score=1.0)
    (run / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    log = run / recs[1]["steps_log"]
    step = json.loads(log.read_text())
    step["info"].update(success=True, score=1.0)
    log.write_text(json.dumps(step) + "\n")
    row = _rescore(run, tmp_path / "b.jsonl", capsys)["none|calc/t1|1"]
    assert (row["success"], row["score"], row["rescore"]["changed"]) == (False, 0.0, True)
    # the saved file replaced by the gold one: refused (sha256), the run's claim kept
    saved_bad = step["info"]["final_state"]["results"][0]["value"]
    (run / saved_bad).write_bytes(good)
    row = _rescore(run, tmp_path / "c.jsonl", capsys)["none|calc/t1|1"]
    assert not row["rescore"]["rescored"] and "changed since the run" in row["rescore"]["note"]
    # a recorded path that leads out of the run directory is never opened
    step["info"]["final_state"]["results"][0]["value"] = "final_state/../../tasks/files/gold.xlsx"
    log.write_text(json.dumps(step) + "\n")
    row = _rescore(run, tmp_path / "d.jsonl", capsys)["none|calc/t1|1"]
    assert "leads outside the run directory" in row["rescore"]["note"]


def test_result_files_over_the_cap_are_not_saved(
    evaluators_or_skip: None,  # noqa: F811
    tmp_path: Path,
) -> None:
    keep = final_files.Keeper(max_bytes=10)
    path = tmp_path / "r.xlsx"
    path.write_bytes(b"x" * 100)
    keep(0, RESULT, str(path))
    final = keep.save(tmp_path / "run", "calc/t1")
    assert final == {
        "results": [{"metric": 0, "getter": "vm_file", "not_saved": "100 bytes of result "
                     "files, over keep_files_mb (10 bytes)"}]
    }  # fmt: skip
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["desktop", "osworld", "spider2v"])
def test_desktop_envs_declare_an_offline_scorer(name: str) -> None:
    from lbi_icl.runner.rescore import offline_scorer

    assert offline_scorer(name)[1] is None
