"""ScienceWorld env against the real simulator. One JVM for the module (starting one takes
seconds); the test that closes it runs last."""

from __future__ import annotations

import pytest

from lbi_icl.data import Task
from lbi_icl.envs.base import Env, EnvError, StepResult
from lbi_icl.envs.scienceworld import ACTION_TEMPLATES, SPLITS, ScienceWorldEnv
from lbi_icl.synth.relabel_scienceworld import RELABELER

pytestmark = pytest.mark.scienceworld

# Task types whose gold path generates and replays in about a second each.
QUICK_TYPES = ("lifespan-longest-lived", "power-component", "find-plant")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    e = ScienceWorldEnv(gold_cache=tmp_path_factory.mktemp("gold"))
    yield e
    e.close()


def _first(env: ScienceWorldEnv, task_type: str, split: str = "train") -> Task:
    return next(t for t in env.tasks(split) if t.metadata["task_type"] == task_type)


def test_tasks_need_no_jvm_and_splits_are_official_and_disjoint() -> None:
    env = ScienceWorldEnv()
    by_split = {s: env.tasks(s) for s in SPLITS}
    assert env.jvm_starts == 0 and not env.jvm_running
    assert isinstance(env, Env)
    for split, tasks in by_split.items():
        assert tasks, split
        assert {t.metadata["task_type"] for t in tasks} == set(env.task_types())
        assert all(t.split == split and t.env == "scienceworld" for t in tasks)
        assert all(t.instruction.startswith("Your task is to") for t in tasks)
    assert len(env.task_types()) == 30
    ids = [{t.id for t in by_split[s]} for s in SPLITS]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(len(i) for i in ids) == 7207  # every variation is in exactly one split
    assert env.task("boil/3").instruction == next(
        t.instruction for t in by_split["train"] if t.id == "boil/3"
    )


def test_task_order_interleaves_types_and_limit() -> None:
    env = ScienceWorldEnv()
    first = env.tasks("train", limit=30)
    assert len(first) == 30 and len({t.metadata["task_type"] for t in first}) == 30
    assert [t.id for t in first] == [t.id for t in env.tasks("train")[:30]]
    assert first[0].id == "boil/0" and env.tasks("test", limit=1)[0].id == "boil/21"


def test_task_type_filter_and_bad_ids() -> None:
    env = ScienceWorldEnv(task_types="boil,melt")
    assert {t.metadata["task_type"] for t in env.tasks("dev")} == {"boil", "melt"}
    for bad in ("boil", "boil/x", "no-such-task/1", "boil/99999"):
        with pytest.raises(EnvError, match="scienceworld"):
            env.task(bad)
    with pytest.raises(EnvError, match="split"):
        env.tasks("validation")
    with pytest.raises(EnvError, match="unknown task types"):
        ScienceWorldEnv(task_types=["nope"]).tasks("train")


def test_packaged_table_matches_the_simulator(env: ScienceWorldEnv) -> None:
    for task_type in ("boil", "find-plant"):
        task = env.tasks("dev")
        task = next(t for t in task if t.metadata["task_type"] == task_type)
        env.reset(task)
        sw = env._sw
        assert sw.get_task_description() == task.instruction
        live = {s: list(getattr(sw, f"get_variations_{s}")()) for s in SPLITS}
        for split in SPLITS:
            ours = [
                t.metadata["variation"]
                for t in env.tasks(split)
                if t.metadata["task_type"] == task_type
            ]
            assert ours == live[split]


def test_reset_step_and_valid_actions_only_on_request(env: ScienceWorldEnv) -> None:
    task = _first(env, "find-plant")
    obs = env.reset(task)
    assert obs.startswith("This room is called the hallway")
    calls = env.valid_action_calls
    res = env.step("open door to greenhouse")
    assert isinstance(res, StepResult)
    assert res.observation == "The door is now open."
    assert res.done is False and res.info["success"] is False
    assert 0 <= res.info["score"] < 100
    res = env.step("fly to the moon")
    assert res.observation == "No known action matches that input."
    assert env.valid_action_calls == calls  # stepping never lists actions
    valid = env.valid_actions()
    assert valid and "go to greenhouse" in valid
    assert env.valid_action_calls == calls + 1
    assert env.valid_actions() == valid and env.valid_action_calls == calls + 1  # cached
    env.step("go to greenhouse")
    assert "go to hallway" in (env.valid_actions() or [])  # recomputed for the new state
    assert env.valid_action_calls == calls + 2


def test_wrong_focus_fails_the_task(env: ScienceWorldEnv) -> None:
    env.reset(_first(env, "find-plant"))
    res = env.step("focus on picture")  # a picture is not a plant
    assert res.info["score"] < 0 and res.info["failed"] is True
    assert res.done is True and res.info["success"] is False


def test_action_templates_match_the_simulator(env: ScienceWorldEnv) -> None:
    env.reset(_first(env, "lifespan-longest-lived"))
    live = set(env._sw.get_possible_actions())
    assert live and live <= set(ACTION_TEMPLATES)
    text = env.action_space_text()
    assert all(tpl in text for tpl in live)


def test_documents() -> None:
    docs = ScienceWorldEnv().documents()
    ids = {d.id for d in docs}
    assert {"scienceworld/world", "scienceworld/actions", "scienceworld/task/boil"} <= ids
    assert len([i for i in ids if i.startswith("scienceworld/task/")]) == 30
    assert all(d.text.strip() and d.env == "scienceworld" for d in docs)
    assert "focus on OBJ" in next(d.text for d in docs if d.id == "scienceworld/actions")


@pytest.mark.parametrize("task_type", QUICK_TYPES)
def test_expert_reaches_success(env: ScienceWorldEnv, task_type: str) -> None:
    task = _first(env, task_type)
    traj = env.demonstrate(task)
    assert traj is not None
    assert traj.source["kind"] == "expert" and traj.task_id == task.id
    assert traj.outcome == "success" and traj.metadata["final_score"] == 100
    assert traj.steps and traj.final_observation
    assert traj.instruction == task.instruction
    # the offline relabeler describes every non-trivial window of a real expert run
    full = RELABELER.relabel(traj, 0, len(traj.steps))
    assert [w.kind for w in full] == ["abstract", "summarize"]
    assert "focus on" in full[0].instruction.lower()


def test_gold_paths_are_cached_on_disk(env: ScienceWorldEnv) -> None:
    task = _first(env, "lifespan-longest-lived")
    first = env.demonstrate(task)
    made = env.gold_generations
    env._gold.forget_memory()  # as a new process would start
    again = env.demonstrate(task)
    assert env.gold_generations == made  # read back, not generated again
    assert first is not None and again is not None
    assert again.actions() == first.actions() and again.outcome == "success"
    cached = env.gold_path_file(task)
    assert cached is not None and cached.exists()
    cached.write_text("{not json")
    env._gold.forget_memory()
    with pytest.raises(EnvError, match=str(cached.name)):
        env.demonstrate(task)
    cached.unlink()


def test_same_actions_same_text_whatever_the_jvm_ran_before(env: ScienceWorldEnv) -> None:
    # With HotSpot's default identity hashes the simulator lists objects in an order that
    # depends on what the JVM ran before (this art studio's cups swap places); the env
    # starts its JVM so that it does not.
    task = _first(env, "chemistry-mix-paint-secondary-color")
    actions = [
        "open door to living room",
        "go to living room",
        "open door to hallway",
        "go to hallway",
        "open door to art studio",
        "go to art studio",
        "look around",
    ]

    def run() -> list[str]:
        env.reset(task)
        return [env.step(a).observation for a in actions]

    runs = [run()]
    for other in ("melt", "find-plant", "boil"):
        env.reset(_first(env, other))
        env.step("look around")
        runs.append(run())
    assert runs[0][-1].startswith("This room is called the art studio")
    assert all(r == runs[0] for r in runs)


def test_demonstrate_truncated_is_a_failure(env: ScienceWorldEnv) -> None:
    traj = env.demonstrate(_first(env, "lifespan-longest-lived"), max_steps=2)
    assert traj is not None and len(traj.steps) == 2
    assert traj.outcome == "failure" and traj.metadata["final_score"] < 100


def test_step_limit_ends_episodes_but_not_the_expert(env: ScienceWorldEnv) -> None:
    task = _first(env, "lifespan-longest-lived")
    env.step_limit = 2
    try:
        traj = env.demonstrate(task)  # 5 gold steps > step_limit: the expert is not cut
        assert traj is not None and traj.outcome == "success"
        env.reset(task)
        # a fresh world after the gold-path generation (which plays the task to the end)
        assert env.step("look around").info["score"] == 0
        results = [env.step(a) for a in traj.actions()[:3]]
        assert [r.done for r in results] == [False, False, True]
        assert results[-1].info["truncated"] is True and results[-1].info["success"] is False
    finally:
        env.step_limit = 100


def test_hung_call_kills_the_jvm_and_names_task_and_step(env: ScienceWorldEnv) -> None:
    task = _first(env, "lifespan-longest-lived")
    env.reset(task)
    env.step("look around")
    starts, proc = env.jvm_starts, env._java_process()
    env.step_timeout_s = 1e-6  # every JVM call now "hangs"
    try:
        with pytest.raises(EnvError, match=rf"task {task.id} step 2: 'wait' timed out"):
            env.step("wait")
    finally:
        env.step_timeout_s = 30.0
    assert proc.wait(timeout=10) is not None and not env.jvm_running
    with pytest.raises(EnvError, match="reset"):
        env.valid_actions()
    assert env.reset(task).startswith("This room is called")  # a fresh JVM
    assert env.jvm_starts == starts + 1


def test_close_shuts_down_the_jvm(env: ScienceWorldEnv) -> None:
    env.reset(_first(env, "lifespan-longest-lived"))
    proc = env._java_process()
    assert proc is not None and proc.poll() is None
    env.close()
    assert proc.wait(timeout=10) is not None
    assert not env.jvm_running
    env.close()  # idempotent
    with pytest.raises(EnvError, match="before reset"):
        env.step("look around")
