"""protocol=browsergym is exactly browsergym-experiments' benchmark definitions: the same
(task, seed) list, max_steps, action set and its flags, and the tasks' own timeouts, for
MiniWoB++ (and its tiny test list), WebArena, VisualWebArena, WebArena-Verified and
WorkArena L1 — read from the installed package's `DEFAULT_BENCHMARKS`, which the project's
code does not import. No browser is started. Needs what `bash .ci/setup-webarena.sh`
installs (browsergym-experiments among it): skipped without it, a failure under CI."""

from __future__ import annotations

from collections import Counter

import pytest
from web_setup import fail_under_ci, require_setup

from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv
from lbi_icl.envs.browsergym.protocol import SEED_MAX, miniwob_protocol

MODULES = ("browsergym.experiments", "browsergym.miniwob", "webarena", "visualwebarena")
MODULES += ("webarena_verified", "browsergym.workarena")
MISSING = require_setup(MODULES, chromium=False)


@pytest.fixture(autouse=True)
def _installed() -> None:
    fail_under_ci(MISSING)


def _bench(name: str):
    from browsergym.experiments.benchmark import DEFAULT_BENCHMARKS

    return DEFAULT_BENCHMARKS[name]()


def _pairs(bench) -> list[tuple[str, int]]:
    return [(a.task_name, int(a.task_seed)) for a in bench.env_args_list]


def _action_set(bench) -> dict:
    a = bench.high_level_action_set_args
    return {
        "subsets": tuple(a.subsets),
        "multiaction": a.multiaction,
        "strict": a.strict,
        "retry_with_force": a.retry_with_force,
        "demo_mode": a.demo_mode,
    }


def _check_env_args(bench, max_steps: int) -> None:
    """What every EnvArgs of the benchmark leaves to the task: viewport, slow_mo, timeout."""
    for a in bench.env_args_list:
        assert a.max_steps == max_steps
        assert a.viewport is None and a.slow_mo is None and a.task_kwargs is None
        assert a.headless and not a.record_video and not a.wait_for_user_message


@pytest.mark.parametrize("benchmark", ["miniwob", "miniwob_tiny_test"])
def test_miniwob_is_browsergym_experiments_benchmark(benchmark: str) -> None:
    bench = _bench(benchmark)
    env = MiniWoBEnv(benchmark=benchmark)
    tasks = env.tasks("test")
    # the same (task, seed) list, repeats of one task in the benchmark's order
    ours = sorted(
        tasks, key=lambda t: (env.names().index(t.metadata["task"]), t.metadata["repeat"])
    )
    assert [(f"miniwob.{t.metadata['task']}", t.metadata["seed"]) for t in ours] == _pairs(bench)
    assert len({t.id for t in tasks}) == len(tasks)  # repeated seeds stay separate episodes
    assert tasks[0].metadata["repeat"] == 0 and tasks[len(env.names())].metadata["repeat"] == 1
    p = env.protocol
    assert p is not None and p.name == "browsergym" and p.benchmark == bench.name
    _check_env_args(bench, p.max_steps)
    assert env.step_limit == p.max_steps
    assert p.action_set.model_dump() == _action_set(bench)
    assert env.action_set == p.action_set
    assert env.timeout_ms is None and env.slow_mo is None  # each task's own
    assert max(s for _, s in _pairs(bench)) < SEED_MAX == 34


def test_miniwob_train_seeds_are_clear_of_the_benchmark_seeds() -> None:
    env = MiniWoBEnv()
    test = {(t.metadata["task"], t.metadata["seed"]) for t in env.tasks("test")}
    train = {(t.metadata["task"], t.metadata["seed"]) for t in env.tasks("train")}
    dev = {(t.metadata["task"], t.metadata["seed"]) for t in env.tasks("dev")}
    assert test.isdisjoint(train) and test.isdisjoint(dev) and train.isdisjoint(dev)
    assert min(s for _, s in train) >= SEED_MAX


def test_protocol_lbi_keeps_the_earlier_settings() -> None:
    env = MiniWoBEnv(protocol="lbi")
    assert env.step_limit == 15 and env.timeout_ms == 30000
    assert env.action_subsets == ["chat", "infeas", "bid", "nav", "tab"]
    assert not env.action_set.retry_with_force
    test = env.tasks("test")
    assert len(test) == 3 * 125 and test[0].id == "ascending-numbers/seed-2000000"
    assert env.tasks("train")[0].id == "ascending-numbers/seed-0"
    with pytest.raises(ValueError, match="protocol='agentlab'"):
        MiniWoBEnv(protocol="agentlab")


def test_the_protocol_and_overrides_are_in_the_run_notes() -> None:
    (note,) = MiniWoBEnv().run_notes()
    assert note.startswith("protocol browsergym: benchmark miniwob (125 tasks x 5 repeats")
    for part in ("max_steps 10", "miniwob_all", "retry_with_force=on", "timeout each task's own"):
        assert part in note
    (note,) = MiniWoBEnv(step_limit=12).run_notes()
    assert note.endswith("overridden: step_limit=12")
    assert miniwob_protocol("lbi").note().startswith("protocol lbi: benchmark miniwob")


@pytest.mark.parametrize("env_name", ["webarena", "visualwebarena", "webarena_verified"])
def test_webarena_family_is_browsergym_experiments_benchmark(env_name: str) -> None:
    from lbi_icl.envs import make_env

    bench = _bench(env_name)
    env = make_env(env_name)
    tasks = env.tasks("test")
    ours = [(int(t.metadata["task_id"]), int(t.metadata["seed"])) for t in tasks]
    # webarena.<id>, visualwebarena.<id>, webarena_verified.<template>.<id>.<revision>
    at = 2 if env_name == "webarena_verified" else 1
    theirs = [(int(name.split(".")[at]), seed) for name, seed in _pairs(bench)]
    assert ours == theirs
    p = env.protocol
    _check_env_args(bench, p.max_steps)
    assert env.step_limit == p.max_steps == 30
    assert p.action_set.model_dump() == _action_set(bench)
    assert bench.name == p.benchmark


def test_workarena_l1_is_browsergym_experiments_benchmark() -> None:
    from lbi_icl.envs.browsergym.workarena import WorkArenaEnv

    bench = _bench("workarena_l1")
    env = WorkArenaEnv(level="l1")
    tasks = env.tasks("test")
    ours = Counter((t.metadata["task"], t.metadata["seed"]) for t in tasks)
    assert ours == Counter(_pairs(bench))
    assert len({t.id for t in tasks}) == len(tasks)
    p = env.protocol
    _check_env_args(bench, p.max_steps)
    assert env.step_limit == p.max_steps == 15
    assert p.action_set.model_dump() == _action_set(bench)


def _run_dir(path, env: str, notes: list[str]):
    from lbi_icl.runner.manifest import write_manifest

    path.mkdir()
    write_manifest(path, {"config": {"env": env, "split": "test"}, "env": {"notes": notes}})
    return path


def test_report_shows_the_protocol_and_refuses_to_pair_different_ones(tmp_path) -> None:
    from lbi_icl.runner.report import report
    from lbi_icl.runner.report_compare import compare_runs

    bg, lbi = MiniWoBEnv().run_notes(), MiniWoBEnv(protocol="lbi").run_notes()
    a = _run_dir(tmp_path / "a", "miniwob", bg)
    b = _run_dir(tmp_path / "b", "miniwob", lbi)
    c = _run_dir(tmp_path / "c", "miniwob", bg)
    old = _run_dir(tmp_path / "old", "miniwob", [])  # made before protocols were recorded
    md = report(a, "md")
    assert bg[0] in md.split("|")[0]  # in the header, above the table
    with pytest.raises(ValueError, match="different evaluation protocols: protocol browsergym"):
        compare_runs(a, b)
    with pytest.raises(ValueError, match="recorded before protocols"):
        compare_runs(a, old)
    with pytest.raises(ValueError, match="share no strategy"):  # same protocol: compared
        compare_runs(a, c)
    with pytest.raises(ValueError, match="share no strategy"):  # old runs ran protocol lbi
        compare_runs(b, old)


def test_a_run_is_not_resumed_under_another_protocol(tmp_path) -> None:
    from lbi_icl.runner.report_data import protocol_mismatch

    old = {"config": {"env": "miniwob"}, "env": {"name": "miniwob"}}
    now = {"config": {"env": "miniwob"}, "env": {"notes": MiniWoBEnv().run_notes()}}
    assert "protocol browsergym" in (protocol_mismatch(old, now) or "")
    lbi = {"config": {"env": "miniwob"}, "env": {"notes": MiniWoBEnv(protocol="lbi").run_notes()}}
    assert protocol_mismatch(old, lbi) is None
    other = {"config": {"env": "babyai"}, "env": {}}
    assert protocol_mismatch(other, other) is None


def test_lbi_envs_json_counts_tasks_per_split() -> None:
    from lbi_icl.commands.envs import _task_counts

    assert _task_counts("miniwob") == {"tasks": {"train": 1250, "dev": 375, "test": 625}}
    assert _task_counts("webarena") == {"tasks": {"test": 812}}
    assert _task_counts("visualwebarena") == {"tasks": {"test": 910}}
    assert _task_counts("babyai")["tasks"] == {"train": 12000, "dev": 300, "test": 600}
    swe = _task_counts("swe")  # needs a task file: said in one line, no count
    assert swe["tasks"] is None and "tasks_file" in swe["tasks_error"]
    assert "\n" not in swe["tasks_error"]
