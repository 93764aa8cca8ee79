"""Runner: grid, step logs, manifest, resume, retry-errors, kill-and-resume, Ctrl-C,
process pool, config precedence and secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_runner_helpers import TOKENS_IN, FakeEpisode, fake_factory, make_tasks, outcome

from lbi_icl.cli import main as cli_main
from lbi_icl.runner import ConfigError, RunConfig, build_config, latest_records, run_experiment
from lbi_icl.runner.results import EPISODES, read_records

HELPERS = Path(__file__).with_name("test_runner_helpers.py")


def _cfg(tmp_path: Path, **kw) -> RunConfig:
    base = dict(
        env="fake", out=tmp_path / "run", strategies=["none", "rag"], index=tmp_path / "idx"
    )
    base.update(kw)
    return RunConfig(**base)


def _expected_tokens(tasks, strategies, seeds) -> int:
    return sum(
        outcome(s, t.id, seed)[0] * TOKENS_IN for t in tasks for s in strategies for seed in seeds
    )


def test_grid_writes_records_steps_trajectories_and_manifest(tmp_path):
    tasks = make_tasks(3)
    cfg = _cfg(tmp_path, seeds=2, workers=2)
    summary = run_experiment(cfg, tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)
    assert summary.planned == 12 and summary.ran == 12 and summary.skipped == 0
    recs = read_records(cfg.out)
    assert len(recs) == 12
    assert {r.key for r in recs} == {
        f"{s}|{t.id}|{seed}" for t in tasks for s in ("none", "rag") for seed in (0, 1)
    }
    for r in recs:
        n, success = outcome(r.strategy, r.task_id, r.seed)
        assert (r.steps, r.success) == (n, success)
        lines = (cfg.out / r.steps_log).read_text().splitlines()
        assert [json.loads(x)["step"] for x in lines] == list(range(n))
        assert r.trajectory_file and (cfg.out / r.trajectory_file).exists()
    raw = (cfg.out / EPISODES).read_text().splitlines()
    assert all('"trajectory"' not in line for line in raw)
    man = json.loads((cfg.out / "manifest.json").read_text())
    assert man["config"]["strategies"] == ["none", "rag"]
    assert man["lbi_icl_version"] and man["versions"]["python"]
    assert man["started_at"] and man["ended_at"]
    assert man["sessions"][-1]["status"] == "complete"
    assert summary.successes == sum(r.success for r in recs)


def test_resume_skips_finished_and_retry_errors_replaces_latest(tmp_path):
    tasks = make_tasks(4)
    cfg = _cfg(tmp_path)
    bad = frozenset({"task/1"})
    first = run_experiment(cfg, tasks=tasks, episode_fn=FakeEpisode(fail=bad), show_progress=False)
    assert first.ran == 8 and first.errors == 2
    errored = [r for r in read_records(cfg.out) if r.error]
    assert {r.task_id for r in errored} == {"task/1"}
    assert all("env crashed" in r.error for r in errored)

    again = FakeEpisode()
    second = run_experiment(cfg, tasks=tasks, episode_fn=again, show_progress=False)
    assert again.calls == 0 and second.skipped == 8 and second.errors == 2

    retry_cfg = cfg.model_copy(update={"retry_errors": True})
    fixed = FakeEpisode()
    third = run_experiment(retry_cfg, tasks=tasks, episode_fn=fixed, show_progress=False)
    assert fixed.calls == 2 and third.ran == 2 and third.errors == 0
    assert len(read_records(cfg.out)) == 10  # appended, never rewritten
    latest = latest_records(cfg.out)
    assert len(latest) == 8 and all(r.error is None for r in latest.values())
    total = sum(r.input_tokens for r in latest.values())
    assert total == _expected_tokens(tasks, ["none", "rag"], [0])
    man = json.loads((cfg.out / "manifest.json").read_text())
    assert len(man["sessions"]) == 3

    # widening the grid (more tasks) resumes and runs only the new cells
    wider = run_experiment(cfg, tasks=make_tasks(6), episode_fn=FakeEpisode(), show_progress=False)
    assert (wider.skipped, wider.ran, wider.episodes) == (8, 4, 12)


def test_ablate_defaults_to_the_papers_six_with_or_without_an_llm():
    from lbi_icl.cli import build_parser
    from lbi_icl.commands.run import _config_from_args

    paper = ["none", "rag", "instruction", "observation", "model", "agentic"]
    base = ["ablate", "--env", "babyai", "--index", "idx", "--out", "o", "--tasks", "all"]
    cfg = _config_from_args(build_parser().parse_args(base))
    assert cfg.strategies == paper
    with_llm = [*base, "--policy", "llm", "--llm", "scripted:x.jsonl"]
    assert _config_from_args(build_parser().parse_args(with_llm)).strategies == paper
    chosen = _config_from_args(build_parser().parse_args([*base, "--strategies", "none,rag"]))
    assert chosen.strategies == ["none", "rag"]


def test_resume_refuses_changed_settings(tmp_path):
    tasks = make_tasks(1)
    run_experiment(_cfg(tmp_path), tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)
    default_steps = _cfg(tmp_path).agent.max_steps
    changed = _cfg(tmp_path, agent={"max_steps": 3})
    with pytest.raises(ConfigError, match=rf"\(agent\.max_steps: {default_steps} → 3\)"):
        run_experiment(changed, tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)


def test_a_run_dir_is_adopted_only_with_its_manifest(tmp_path):
    """Without manifest.json nobody knows what settings the old episodes ran under: refuse
    rather than count them as done (they were adopted silently before)."""
    tasks = make_tasks(2)
    cfg = _cfg(tmp_path)
    run_experiment(cfg, tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)
    (cfg.out / "manifest.json").unlink()
    changed = _cfg(tmp_path, agent={"max_steps": 3})
    with pytest.raises(ConfigError, match=r"episodes\.jsonl but no manifest\.json"):
        run_experiment(changed, tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)
    # a folder of other things is not written into; an empty one (or one holding only the
    # response cache, made before the manifest) is fine
    other = tmp_path / "notes"
    other.mkdir()
    (other / "NOTES.md").write_text("mine\n")
    with pytest.raises(ConfigError, match=r"not empty and not a run directory.*NOTES\.md"):
        run_experiment(_cfg(tmp_path, out=other), tasks=tasks, episode_fn=FakeEpisode())
    assert sorted(p.name for p in other.iterdir()) == ["NOTES.md"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "llm_cache.sqlite").write_bytes(b"")
    summary = run_experiment(
        _cfg(tmp_path, out=empty), tasks=tasks, episode_fn=FakeEpisode(), show_progress=False
    )
    assert summary.ran == 4


def test_killed_run_resumes_without_missing_or_duplicate_episodes(tmp_path):
    out = tmp_path / "run"
    n_tasks = 8
    env = {**os.environ, "PYTHONPATH": str(HELPERS.parent)}
    proc = subprocess.Popen(
        [sys.executable, str(HELPERS), str(out), str(n_tasks), "0.05"],
        env=env,
        start_new_session=True,
    )
    episodes = out / EPISODES
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if episodes.exists() and len(episodes.read_text().splitlines()) >= 4:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(read_records(out))
    assert 4 <= done_before < 2 * n_tasks, "the kill must land mid-run"

    tasks = make_tasks(n_tasks)
    cfg = RunConfig(env="fake", out=out, strategies=["none", "rag"], index=Path("idx"), workers=2)
    fn = FakeEpisode()
    summary = run_experiment(cfg, tasks=tasks, episode_fn=fn, show_progress=False)
    assert summary.skipped == done_before and fn.calls == 2 * n_tasks - done_before
    recs = read_records(out)
    keys = [r.key for r in recs]
    assert len(keys) == len(set(keys)) == 2 * n_tasks  # nothing missing, nothing twice
    total = sum(r.input_tokens for r in latest_records(out).values())
    assert total == _expected_tokens(tasks, ["none", "rag"], [0])
    for r in recs:  # step logs of episodes killed in flight were rewritten, not appended
        assert len((out / r.steps_log).read_text().splitlines()) == r.steps


def test_stop_event_interrupts_cleanly_and_run_resumes(tmp_path):
    tasks = make_tasks(6)
    cfg = _cfg(tmp_path, workers=2)
    stop = threading.Event()
    inner = FakeEpisode(delay=0.01)
    seen = []

    def fn(task, strategy, seed, on_step):
        seen.append(task.id)
        if len(seen) >= 3:
            stop.set()
        return inner(task, strategy, seed, on_step)

    summary = run_experiment(cfg, tasks=tasks, episode_fn=fn, stop_event=stop, show_progress=False)
    assert summary.interrupted
    assert summary.episodes < 12
    man = json.loads((cfg.out / "manifest.json").read_text())
    assert man["sessions"][-1]["status"] == "interrupted"
    resumed = run_experiment(cfg, tasks=tasks, episode_fn=FakeEpisode(), show_progress=False)
    assert not resumed.interrupted and resumed.episodes == 12
    keys = [r.key for r in read_records(cfg.out)]
    assert len(keys) == len(set(keys)) == 12


def test_process_pool_runs_every_episode(tmp_path):
    tasks = make_tasks(3)
    cfg = _cfg(tmp_path, workers=2, parallel="process")
    summary = run_experiment(cfg, tasks=tasks, worker_factory=fake_factory, show_progress=False)
    assert summary.ran == 6 and summary.errors == 0
    for r in read_records(cfg.out):
        assert len((cfg.out / r.steps_log).read_text().splitlines()) == r.steps


def test_config_file_and_cli_override_precedence(tmp_path):
    yml = tmp_path / "run.yaml"
    yml.write_text(
        "env: babyai\nsplit: dev\ntasks: 5\nworkers: 3\nmax_steps: 7\n"
        f"index: {tmp_path / 'idx'}\nout: {tmp_path / 'out'}\n"
        "strategies: [none, rag]\nagent:\n  history_steps: 2\n"
    )
    cfg = build_config(yml, {"max_steps": 9, "workers": None, "retrieval.k": 4})
    assert cfg.agent.max_steps == 9  # the flag wins
    assert cfg.agent.history_steps == 2 and cfg.workers == 3  # file kept where no flag
    assert cfg.split == "dev" and cfg.tasks == 5 and cfg.retrieval == {"k": 4}
    assert RunConfig(env="x", out=tmp_path).agent.max_steps == 30  # default

    toml = tmp_path / "run.toml"
    toml.write_text('env = "babyai"\nout = "o"\nseeds = 2\n[agent]\nmax_steps = 4\n')
    cfg = build_config(toml, {"seeds": 5, "task_ids": ["a", "b"]})
    assert (cfg.seeds, cfg.agent.max_steps, cfg.task_ids) == (5, 4, ["a", "b"])

    bad = tmp_path / "bad.yaml"
    bad.write_text("env: babyai\nout: o\nworkers: lots\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: field 'workers'"):
        build_config(bad)
    with pytest.raises(ConfigError, match="unknown strategy"):
        build_config(None, {"env": "x", "out": "o", "strategies": ["telepathy"]})
    with pytest.raises(ConfigError, match="needs an LLM"):
        build_config(None, {"env": "x", "out": "o", "policy": "llm"})


def test_manifest_and_run_dir_hold_no_secrets(tmp_path, monkeypatch):
    secret = "sk-test-THISMUSTNOTLEAK-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    cfg = _cfg(
        tmp_path,
        policy="llm",
        llm="openai:gpt-4o-mini",
        llm_base_url=f"http://user:{secret}@127.0.0.1:9/v1",
    )
    monkeypatch.setattr(sys, "argv", ["lbi", "run", "--llm-base-url", cfg.llm_base_url])
    run_experiment(
        cfg, tasks=make_tasks(2), episode_fn=FakeEpisode(policy="llm"), show_progress=False
    )
    for path in cfg.out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(), path
    man = json.loads((cfg.out / "manifest.json").read_text())
    assert man["config"]["llm_base_url"] == "http://***@127.0.0.1:9/v1"


def test_cli_run_reports_config_errors(tmp_path, capsys):
    assert cli_main(["run", "--out", str(tmp_path / "r"), "--tasks", "1"]) == 1
    assert "field 'env'" in capsys.readouterr().err
    assert cli_main(["run", "--env", "x", "--out", "o", "--tasks", "1", "--set", "nonsense"]) == 1
    assert "expected KEY=VALUE" in capsys.readouterr().err
    out = str(tmp_path / "r2")
    argv = ["run", "--env", "no-such-env", "--out", out, "--tasks", "all", "--no-progress"]
    assert cli_main(argv) == 1
    assert "unknown environment 'no-such-env'" in capsys.readouterr().err
    # one spelling across commands: retrieval settings are dotted, and a bare one says so
    assert cli_main(["run", "--env", "x", "--out", out, "--tasks", "1", "--set", "m1=3"]) == 1
    assert "--set retrieval.m1=" in capsys.readouterr().err
    # whole splits only when asked for
    assert cli_main(["run", "--env", "babyai", "--out", out]) == 1
    assert "--tasks all" in capsys.readouterr().err


@pytest.mark.babyai
def test_cli_run_reports_a_missing_index(tmp_path, capsys):
    idx, out = str(tmp_path / "missing-index"), str(tmp_path / "r")
    argv = ["run", "--env", "babyai", "--retrieval", "rag", "--index", idx, "--out", out]
    assert cli_main([*argv, "--tasks", "1", "--no-progress"]) == 1
    assert "missing-index" in capsys.readouterr().err
