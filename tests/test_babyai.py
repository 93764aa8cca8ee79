"""BabyAI env conformance: tasks and splits, text view, word actions, events, score,
and the guarded expert (success on a sample; a looping seed is skipped, never hangs)."""

from __future__ import annotations

import re
import time

import pytest

from lbi_icl.data import Task
from lbi_icl.envs import Env, EnvError, make_env
from lbi_icl.envs.babyai import SPLIT_SEED_BASE, BabyAIEnv, decode_actions, encode_actions
from lbi_icl.envs.babyai_text import ACTION_WORDS, offset_phrase, parse_action

pytestmark = pytest.mark.babyai

LEVELS = ["BabyAI-GoToRedBallGrey-v0", "BabyAI-PickupLoc-v0", "BabyAI-OpenRedDoor-v0"]


@pytest.fixture(scope="module")
def env():
    e = make_env("babyai", levels=LEVELS, tasks_per_level={"train": 4, "dev": 2, "test": 3})
    yield e
    e.close()


def test_is_an_env_with_split_tasks(env):
    assert isinstance(env, Env) and env.name == "babyai"
    train, dev, test = env.tasks("train"), env.tasks("dev"), env.tasks("test")
    assert (len(train), len(dev), len(test)) == (12, 6, 9)
    assert train[0].id == "BabyAI-GoToRedBallGrey-v0/seed-0"
    assert [t.metadata["level"] for t in train[:3]] == LEVELS  # levels interleaved
    seeds = {
        s: {t.metadata["seed"] for t in ts}
        for s, ts in (("train", train), ("dev", dev), ("test", test))
    }
    assert not (seeds["train"] & seeds["dev"]) and not (seeds["dev"] & seeds["test"])
    assert min(seeds["test"]) == SPLIT_SEED_BASE["test"]
    assert all(t.instruction for t in train)
    assert env.tasks("train", limit=2) == train[:2]
    with pytest.raises(ValueError, match="unknown split"):
        env.tasks("validation")


def test_reset_step_done_score(env):
    task = env.tasks("train")[0]  # go to the red ball
    obs = env.reset(task)
    assert obs.startswith("You see: ") and obs.rstrip().endswith("You are carrying nothing.")
    assert "Mission" not in obs
    r = env.step("turn left")
    assert not r.done and r.reward == 0.0 and r.info["t"] == 1
    assert r.info["task_id"] == task.id and r.info["success"] is False
    bad = env.step("fly away")
    assert bad.info["invalid_action"] and bad.info["t"] == 1 and "Invalid action" in bad.observation
    # the expert's actions reach the goal: done, success, minigrid's reward as score
    demo = env.demonstrate(task)
    assert demo is not None and demo.outcome == "success"
    last = demo.steps[-1]
    assert last.info["success"] is True and 0 < last.info["score"] <= 1
    assert last.info["score"] == pytest.approx(last.reward)
    assert any(e["event"] == "goto" and e["obj"] == ["ball", "red"] for e in last.info["events"])
    with pytest.raises(EnvError, match="episode is over"):
        env.step("turn left")


def test_show_mission_option():
    e = BabyAIEnv(levels=LEVELS[:1], tasks_per_level=1, show_mission=True)
    try:
        task = e.tasks("train")[0]
        assert e.reset(task).startswith(f"Mission: {task.instruction}\nYou see:")
    finally:
        e.close()


def test_text_view_phrases(env):
    assert offset_phrase(3, 2) == "3 steps forward and 2 steps right"
    assert offset_phrase(1, -1) == "1 step forward and 1 step left"
    obs = env.reset(env.tasks("train")[2])  # OpenRedDoor: a door in view or not, walls always
    for line in obs.splitlines()[0].removeprefix("You see: ").rstrip(".").split("; "):
        assert re.fullmatch(
            r"an? [a-z ]+ \d+ steps? (forward|left|right)( and \d+ steps? (left|right))?", line
        ), line


def test_action_words_parse():
    assert [parse_action(w) for w in ACTION_WORDS] == list(range(7))
    assert parse_action("  Go Forward. ") == 2 and parse_action("pickup") == 3
    assert parse_action("open") == 5 and parse_action("jump") is None
    assert decode_actions(encode_actions([0, 1, 2, 6])) == [0, 1, 2, 6]


def test_valid_actions_and_documents(env):
    assert env.valid_actions() == list(ACTION_WORDS)
    assert "pick up" in env.action_space_text()
    docs = env.documents()
    titles = {d.title for d in docs}
    assert {"The BabyAI world", "Actions", "Missions"} <= titles
    assert {f"Level {lvl}" for lvl in LEVELS} <= titles
    assert len({d.id for d in docs}) == len(docs)


def test_events_for_pickup_and_open(env):
    pick = env.demonstrate(env.tasks("train")[1])  # PickupLoc
    assert pick is not None and pick.outcome == "success"
    assert pick.steps[-1].info["events"][0]["event"] == "pickup"
    assert "You are carrying a" in pick.final_observation
    door = env.demonstrate(env.tasks("train")[2])  # OpenRedDoor
    assert door is not None and door.outcome == "success"
    assert {"event": "open", "obj": ["door", "red"]} in door.steps[-1].info["events"]
    assert "open red door" in door.final_observation


def test_expert_succeeds_on_a_sample(env):
    tasks = env.tasks("test")
    demos = [env.demonstrate(t) for t in tasks]
    assert all(d is not None and d.outcome == "success" for d in demos)
    for d, t in zip(demos, tasks, strict=True):
        assert d.metadata["task_id"] == t.id and d.source["kind"] == "expert"


def test_noisy_expert_is_seeded(env):
    task = env.tasks("train")[1]
    a = env.demonstrate_noisy(task, epsilon=0.5, seed=3)
    b = env.demonstrate_noisy(task, epsilon=0.5, seed=3)
    c = env.demonstrate_noisy(task, epsilon=0.5, seed=4)
    assert a is not None and b is not None and c is not None
    assert a.actions() == b.actions() and a.observations() == b.observations()
    clean = env.demonstrate(task)
    assert clean is not None and a.actions() != clean.actions()  # detours happened
    assert a.actions() != c.actions() or a.observations() != c.observations()


def test_looping_bot_is_skipped_not_hung():
    # BabyAIBot loops forever inside one replan() on UnlockToUnlock seed 4.
    e = BabyAIEnv(levels=["BabyAI-UnlockToUnlock-v0"], expert_timeout_s=1.0)
    try:
        t0 = time.perf_counter()
        assert e.demonstrate(e.make_task("BabyAI-UnlockToUnlock-v0", 4)) is None
        assert time.perf_counter() - t0 < 10
        assert e.expert_stats == {"timeout": 1}
        ok = e.demonstrate(e.make_task("BabyAI-UnlockToUnlock-v0", 5), max_steps=200)
        assert ok is not None and ok.outcome == "success"
    finally:
        e.close()


def test_bot_failure_levels_are_counted():
    e = BabyAIEnv(levels=["BabyAI-PutNextS5N2Carrying-v0"])
    try:
        assert e.demonstrate(e.make_task("BabyAI-PutNextS5N2Carrying-v0", 0)) is None
        assert sum(e.expert_stats.values()) == 1 and "success" not in e.expert_stats
    finally:
        e.close()


def test_reset_accepts_task_id_without_metadata(env):
    t = Task(id="BabyAI-PickupLoc-v0/seed-5", env="babyai", instruction="whatever")
    assert env.reset(t).startswith("You see:")
    with pytest.raises(ValueError, match="LEVEL/seed-N"):
        env.reset(Task(id="nonsense", env="babyai", instruction="x"))
