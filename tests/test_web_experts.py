"""The scripted MiniWoB++ experts (issue 26 item 3): a CI-sized sample (10 tasks x 1 of the
benchmark's seeds) demonstrated in Chromium under the browsergym protocol's action set;
synthesis picks the expert where a task has a solver and coverage elsewhere; the DOM view
the solvers read is rebuilt correctly from a DOM snapshot."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("browsergym.miniwob")

from lbi_icl.envs.browsergym.experts import SOLVERS, has_solver
from lbi_icl.envs.browsergym.experts.dom import Page
from lbi_icl.envs.browsergym.launch import find_chromium
from lbi_icl.envs.browsergym.miniwob import MiniWoBEnv
from lbi_icl.envs.browsergym.protocol import MINIWOB_TASKS
from lbi_icl.synth.config import ENV_SYNTH_DEFAULTS, SynthConfig
from lbi_icl.synth.explore import Explorer
from lbi_icl.synth.self_instruct import SynthTask

SAMPLE = [
    "click-checkboxes",
    "click-tab-2",
    "enter-date",
    "login-user-popup",
    "multi-layouts",
    "navigate-tree",
    "social-media",
    "email-inbox-forward-nl",
    "use-autocomplete",
    "choose-list",
]
VERBS = {"click", "fill", "keyboard_type", "keyboard_press", "mouse_click", "noop"}


def test_solvers_cover_forty_benchmark_tasks() -> None:
    assert len(SOLVERS) >= 40
    assert set(SOLVERS) <= set(MINIWOB_TASKS)
    assert has_solver("click-button") and not has_solver("click-pie")


def test_synthesis_uses_the_expert_where_a_solver_exists_and_coverage_elsewhere() -> None:
    assert ENV_SYNTH_DEFAULTS["miniwob"]["explorers"] == ["expert"]
    env = MiniWoBEnv(task_names=["click-button", "click-pie"])
    explorer = Explorer(SynthConfig(env="miniwob", explorers=["expert"]), env, None)
    solved, unsolved = env.tasks("train")[:2]
    assert explorer.resolve(SynthTask(uid="a", task=solved), "expert") == "expert"
    assert explorer.resolve(SynthTask(uid="b", task=unsolved), "expert") == "coverage"
    assert explorer.resolve(SynthTask(uid="b", task=unsolved), "random") == "random"
    assert env.browser_pids() == []  # deciding starts no browser


def test_the_dom_view_rebuilds_tree_text_state_and_boxes() -> None:
    strings = ["#document", "HTML", "BODY", "DIV", "id", "area", "bid", "7", "INPUT"]
    strings += ["type", "checkbox", "8", "hello", " world", "#text", "on", "9", "BUTTON", "Go"]
    nodes = {
        "parentIndex": [-1, 0, 1, 2, 3, 3, 3, 6],
        "nodeType": [9, 1, 1, 1, 1, 3, 1, 3],
        "nodeName": [0, 1, 2, 3, 8, 14, 17, 14],
        "nodeValue": [-1, -1, -1, -1, -1, 12, -1, 18],
        "attributes": [[], [], [], [4, 5, 6, 7], [9, 10, 6, 11], [], [6, 16], []],
        "inputValue": {"index": [4], "value": [15]},
        "inputChecked": {"index": [4]},
    }
    obs = {
        "dom_object": {"strings": strings, "documents": [{"nodes": nodes}]},
        "extra_element_properties": {
            "7": {"visibility": 1.0, "bbox": [0, 75, 240, 100]},
            "8": {"visibility": 1.0, "bbox": [3, 80, 20, 20]},
            "9": {"visibility": 0.0, "bbox": None},
        },
        "focused_element_bid": "8",
    }
    page = Page(obs, "Press Go.")
    area = page.area()
    assert area.id == "area" and area.bid == "7" and area.bbox == (0.0, 75.0, 240.0, 100.0)
    box = page.by_bid["8"]
    assert box.tag == "input" and box.checked and box.value == "on" and box.visible
    button = page.find("button")
    assert button is not None and button.text() == "Go" and not button.visible
    assert area.text() == "hello Go" and page.focused == "8"


@pytest.mark.web
@pytest.mark.skipif(find_chromium() is None, reason="needs chromium (apt-get install chromium)")
def test_the_expert_solves_a_sample_of_benchmark_episodes() -> None:
    env = MiniWoBEnv(task_names=SAMPLE, slow_mo=0, timeout_ms=30000)
    try:
        tasks = env.tasks("test")[: len(SAMPLE)]  # one benchmark seed of each task
        assert {t.metadata["task"] for t in tasks} == set(SAMPLE)
        failed = []
        for task in tasks:
            demo = env.demonstrate(task)
            if demo is None:
                failed.append((task.id, env.goal))
                continue
            assert demo.outcome == "success" and demo.source["kind"] == "expert"
            assert demo.instruction == env.goal != task.instruction  # the page's own goal
            assert demo.metadata["description"] == task.instruction
            for step in demo.steps:
                assert re.match(r"(\w+)\(", step.action).group(1) in VERBS, step.action
                assert step.observation.startswith(f"Goal: {env.goal}")
        assert not failed, failed
    finally:
        env.close()
    assert env.browser_pids() == []
