"""The versioned run log (lbi_icl/runner/runlog.py): a new run writes `format_version` in
its manifest and in every episode and step line; a run written before the field existed
reads exactly as the same run with it (report, compare, view, export, resume); a record of
a newer version is refused naming file, line and version; `lbi rescore` on a run whose env
cannot score offline says so and why, and writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_runner_helpers import FakeEpisode, make_tasks, outcome

from lbi_icl.agent.base import FORMAT_VERSION
from lbi_icl.cli import main as cli_main
from lbi_icl.data.jsonl import DataProblem
from lbi_icl.runner import ConfigError, RunConfig, run_experiment
from lbi_icl.runner.report_compare import compare_runs, render_comparison
from lbi_icl.runner.runlog import latest_records, read_manifest, upgrade
from lbi_icl.view import build_view


def _config(out: Path) -> RunConfig:
    return RunConfig(env="fake", out=out, strategies=["none", "rag"], seeds=2, index=Path("i"))


def _run(out: Path, tasks: int = 3) -> Path:
    run_experiment(
        _config(out), tasks=make_tasks(tasks), episode_fn=FakeEpisode(), show_progress=False
    )
    return out


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _strip_versions(run: Path) -> int:
    """Rewrite `run` as the layout before versioning (no `format_version` anywhere);
    returns how many records lost it."""
    n = 0
    manifest = json.loads((run / "manifest.json").read_text())
    n += manifest.pop("format_version", None) is not None
    (run / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for path in [run / "episodes.jsonl", *sorted((run / "steps").glob("*.jsonl"))]:
        rows = _lines(path)
        n += sum(r.pop("format_version", None) is not None for r in rows)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return n


def test_a_new_run_writes_format_version_everywhere(tmp_path):
    run = _run(tmp_path / "run")
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION == 1
    episodes = _lines(run / "episodes.jsonl")
    assert len(episodes) == 3 * 2 * 2
    assert all(next(iter(e)) == "format_version" and e["format_version"] == 1 for e in episodes)
    logs = sorted((run / "steps").glob("*.jsonl"))
    assert len(logs) == len(episodes)
    steps = [row for log in logs for row in _lines(log)]
    assert steps and all(next(iter(s)) == "format_version" for s in steps)
    assert {s["format_version"] for s in steps} == {1}


def _report(run: Path, capsys, *fmt: str) -> str:
    capsys.readouterr()
    assert cli_main(["report", str(run), *fmt]) == 0
    return capsys.readouterr().out


def _view_data(run: Path) -> dict[str, str]:
    build_view(run)
    data = run / "view" / "data"
    return {
        p.relative_to(data).as_posix(): p.read_text()
        for folder in ("episodes", "steps")
        for p in sorted((data / folder).glob("*.js"))
    }


def test_a_run_from_before_versioning_reads_exactly_as_before(tmp_path, capsys):
    new = _run(tmp_path / "new" / "run")
    old = tmp_path / "old" / "run"
    shutil.copytree(new, old)
    assert _strip_versions(old) == 1 + 12 + sum(len(_lines(p)) for p in (new / "steps").iterdir())
    assert "format_version" not in (old / "episodes.jsonl").read_text()
    # records and manifest: upgraded in memory to what the versioned run reads as
    assert latest_records(old) == latest_records(new)
    assert read_manifest(old) == read_manifest(new)
    # report (terminal, json, md), the comparison of two runs, the viewer, the export
    for fmt in ((), ("--format", "json"), ("--format", "md")):
        assert _report(old, capsys, *fmt).replace(str(old), str(new)) == _report(new, capsys, *fmt)
    cmp = compare_runs(old, new)
    assert len(cmp.rows) == 2 and len(cmp.notes) == 1  # no note that the runs differ
    assert all(r.only_a == r.only_b == 0 and r.pairs == 6 for r in cmp.rows)
    assert render_comparison(compare_runs(old, old), "json").replace(str(old), "R") == (
        render_comparison(compare_runs(new, new), "json").replace(str(new), "R")
    )
    assert _view_data(old) == _view_data(new)
    for run in (old, new):
        (run / "trajectories").rename(run / "moved")  # exported from the step logs instead
        assert cli_main(["export", str(run), "--all", "--out", str(run.parent / "x.jsonl")]) == 0
    assert (old.parent / "x.jsonl").read_text() == (new.parent / "x.jsonl").read_text()
    # resume: nothing to run again, the old lines kept as written, a new session recorded
    before = (old / "episodes.jsonl").read_bytes()
    summary = run_experiment(
        _config(old), tasks=make_tasks(3), episode_fn=FakeEpisode(), show_progress=False
    )
    assert summary.ran == 0 and summary.skipped == 12
    assert (old / "episodes.jsonl").read_bytes() == before
    assert len(read_manifest(old)["sessions"]) == 2


@pytest.mark.parametrize("where", ["manifest", "episodes", "steps"])
def test_a_newer_format_version_is_refused_naming_file_line_and_version(tmp_path, capsys, where):
    run = _run(tmp_path / "run", tasks=1)
    if where == "manifest":
        path, line = run / "manifest.json", None
        data = json.loads(path.read_text()) | {"format_version": 99}
        path.write_text(json.dumps(data))
    else:
        path = run / "episodes.jsonl" if where == "episodes" else sorted(run.glob("steps/*"))[0]
        rows = _lines(path)
        line = len(rows)
        rows[-1]["format_version"] = 99
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    where_text = f"{path}:{line}: " if line else f"{path}: "
    expected = where_text + "format version 99, written by a newer lbi_icl"
    commands = [["view", str(run), "--no-progress"]]
    if where != "steps":  # the report and the comparison read no step log
        commands += [["report", str(run)], ["report", str(run), str(run)], ["rescore", str(run)]]
    for argv in commands:
        capsys.readouterr()
        assert cli_main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and "upgrade lbi_icl" in err, (argv, err)
        assert len(err.splitlines()) == 1, err
    if where == "steps":  # exported from the step log when there is no trajectory file
        shutil.rmtree(run / "trajectories")
        assert cli_main(["export", str(run), "--all", "--out", str(tmp_path / "x.jsonl")]) == 1
        assert expected in capsys.readouterr().err
    else:  # never resumed: the run would be appended to in a layout it does not know
        with pytest.raises(ConfigError, match=f"{path.name}.*format version 99"):
            _run(run, tasks=1)


def test_a_bad_format_version_is_a_problem_naming_the_field():
    assert upgrade({"a": 1}, "f.jsonl", 3) == {"a": 1, "format_version": 1}
    assert upgrade({"format_version": 1, "a": 1}, "f.jsonl", 3) == {"format_version": 1, "a": 1}
    for bad in ("1", 0, True, 1.5, None):
        problem = upgrade({"format_version": bad}, "f.jsonl", 3)
        assert isinstance(problem, DataProblem), bad
        assert str(problem).startswith("f.jsonl:3: field 'format_version': expected an integer")


def test_rescore_of_a_babyai_run_says_it_cannot_and_why(tmp_path, capsys):
    """BabyAI's success is minigrid's reward on the simulator's state, which the step log
    does not hold: nothing is rescored, nothing written, exit 0."""
    pytest.importorskip("minigrid")
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text(
        json.dumps({"config": {"env": "babyai", "split": "test", "strategies": ["none"]}})
    )
    rec = {
        "task_id": "BabyAI-GoToRedBall-v0/0", "env": "babyai", "strategy": "none",
        "policy": "retrieval", "seed": 0, "success": True, "score": 0.9, "steps": 3,
        "stop_reason": "done", "key": "none|BabyAI-GoToRedBall-v0/0|0",
        "steps_log": "steps/x.jsonl",
    }  # fmt: skip
    (run / "episodes.jsonl").write_text(json.dumps(rec) + "\n")
    before = sorted(p.name for p in run.iterdir())
    assert cli_main(["rescore", str(run)]) == 0
    out = capsys.readouterr().out
    assert "cannot rescore offline: babyai: success is minigrid's reward" in out
    assert "step log holds only the text view" in out
    assert sorted(p.name for p in run.iterdir()) == before  # no results file
    # an env nobody registered here: named, with the reason, still exit 0
    (run / "manifest.json").write_text(json.dumps({"config": {"env": "fake"}}))
    assert cli_main(["rescore", str(run)]) == 0
    assert "cannot rescore offline: fake: unknown environment" in capsys.readouterr().out


class _StepCountEnv:
    """An env whose score is a pure function of the logged steps (success: 3 steps or more),
    so it can rescore offline; task 'task/1' is gone from its split."""

    name = "stepcount"

    def __init__(self, tasks: int = 3) -> None:
        self._tasks = [t for t in make_tasks(tasks, env=self.name) if t.id != "task/1"]

    def tasks(self, split: str):
        return list(self._tasks)

    def reset(self, task):
        return ""

    def step(self, action: str):
        raise NotImplementedError

    def action_space_text(self) -> str:
        return ""

    def valid_actions(self):
        return None

    def documents(self):
        return []

    def demonstrate(self, task, *, max_steps: int = 100):
        return None

    def close(self) -> None:
        pass

    def rescore(self, task, steps, files):
        from lbi_icl.envs.base import Rescored

        assert all(s["format_version"] == 1 for s in steps)  # upgraded lines
        n = len(steps)
        return Rescored(success=n >= 3, score=float(n), note=f"{n} steps")


def test_rescore_through_an_envs_offline_scorer(tmp_path, capsys):
    from lbi_icl.envs.registry import register_env, unregister_env
    from lbi_icl.runner.runlog import read_record_file

    register_env("stepcount", _StepCountEnv)
    try:
        cfg = RunConfig(env="stepcount", out=tmp_path / "run", strategies=["none"], index=None)
        tasks = make_tasks(3, env="stepcount")
        run_experiment(cfg, tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)
        run = cfg.out
        _strip_versions(run)  # an old run rescores too
        before = (run / "episodes.jsonl").read_bytes()
        assert cli_main(["rescore", str(run), "--out", str(tmp_path / "new.jsonl")]) == 0
    finally:
        unregister_env("stepcount")
    out = capsys.readouterr().out
    old = {t.id: outcome("none", t.id, 0) for t in tasks}  # (steps, success) as run
    new = {tid: (n >= 3, float(n)) for tid, (n, _) in old.items() if tid != "task/1"}
    changed = sum(new[t] != (old[t][1], float(old[t][1])) for t in new)
    assert f"{changed} of 2 rescored episodes changed" in out
    assert "its task is not in the env's split" in out
    got = {r.task_id: (r.success, r.score) for r in read_record_file(tmp_path / "new.jsonl")}
    success = old["task/1"][1]  # not rescored: the run's own outcome, with the reason
    assert got == new | {"task/1": (success, float(success))}
    assert (run / "episodes.jsonl").read_bytes() == before
