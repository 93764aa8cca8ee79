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


def _page(tree: tuple, goal: str, hidden: set[str] = frozenset()) -> Page:
    """A DOM snapshot from a nested spec: (tag, {attrs}, child, ...); a str child is a text
    node. Every element gets a bid; those in `hidden` are invisible."""
    strings: list[str] = []
    nodes: dict = {"parentIndex": [], "nodeType": [], "nodeName": [], "nodeValue": []}
    nodes["attributes"] = []
    props: dict = {}

    def sid(s: str) -> int:
        strings.append(s)
        return len(strings) - 1

    def add(node: tuple | str, parent: int) -> None:
        i = len(nodes["nodeType"])
        nodes["parentIndex"].append(parent)
        if isinstance(node, str):
            nodes["nodeType"].append(3)
            nodes["nodeName"].append(sid("#text"))
            nodes["nodeValue"].append(sid(node))
            nodes["attributes"].append([])
            return
        tag, attrs, *kids = node
        bid = str(i)
        nodes["nodeType"].append(1)
        nodes["nodeName"].append(sid(tag.upper()))
        nodes["nodeValue"].append(-1)
        flat = [sid(x) for kv in {**attrs, "bid": bid}.items() for x in kv]
        nodes["attributes"].append(flat)
        name = attrs.get("id", "")
        shown = name not in hidden and not (parent >= 0 and props[str(parent)]["hidden"])
        props[bid] = {
            "visibility": 1.0 if shown else 0.0,
            "bbox": [0, 0, 10, 10],
            "hidden": not shown,
        }
        for kid in kids:
            add(kid, i)

    add(tree, -1)
    return Page(
        {
            "dom_object": {"strings": strings, "documents": [{"nodes": nodes}]},
            "extra_element_properties": props,
        },
        goal,
    )


def _tabs(tab1: list[str], tab2: list[str]) -> tuple:
    def panel(n: int, words: list[str]) -> tuple:
        return (
            "div",
            {"id": f"tabs-{n}", "role": "tabpanel"},
            ("p", {}, *[("span", {"class": "alink"}, w) for w in words]),
        )

    tabs = (
        "ul",
        {},
        *[
            (
                "li",
                {"class": "ui-tab", "id": f"li-{n}"},
                ("a", {"href": f"#tabs-{n}", "id": f"a-{n}"}, f"Tab #{n}"),
            )
            for n in (1, 2)
        ],
    )
    return ("body", {}, ("div", {"id": "area"}, tabs, panel(1, tab1), panel(2, tab2)))


def _clicked(page: Page, action: str | None) -> str:
    m = re.fullmatch(r'click\("(\d+)"\)', action or "")
    assert m, action
    el = page.by_bid[m.group(1)]
    return el.id or el.text()


def test_link_solvers_click_the_exact_text_before_a_look_alike() -> None:
    goal = 'Switch between the tabs to find and click on the link "sit".'
    # a visible "Sit." (same word, other case and punctuation) and the exact "sit" hidden in
    # tab 2: the task compares innerHTML exactly, so the answer is tab 2, then "sit"
    page = _page(_tabs(["Sit.", "amet"], ["sit"]), goal, hidden={"tabs-2"})
    assert _clicked(page, SOLVERS["click-tab-2"](page, {})) == "a-2"
    page = _page(_tabs(["Sit.", "amet"], ["sit"]), goal)
    assert _clicked(page, SOLVERS["click-tab-2-hard"](page, {})) == "sit"
    # click-tab-2-medium empties tab 2 after choosing the link: the answer is that tab
    page = _page(_tabs(["amet", "dolor"], []), goal, hidden={"tabs-2"})
    assert _clicked(page, SOLVERS["click-tab-2-medium"](page, {})) == "li-2"
    # a look-alike is still taken when no link has the exact text
    page = _page(_tabs(["Sit.", "amet"], []), goal, hidden={"tabs-2"})
    assert _clicked(page, SOLVERS["click-tab-2"](page, {})) == "Sit."
    # click-collapsible-2: open the section holding the exact link (one open at a time)
    sections = []
    for n, words in ((1, ["Sit.", "amet"]), (2, ["sit"])):
        sections.append(("h3", {"id": f"h-{n}"}, f"Section #{n}"))
        body = ("p", {}, *[("span", {"class": "alink"}, w) for w in words])
        sections.append(
            ("div", {"id": f"s-{n}", "role": "tabpanel", "aria-labelledby": f"h-{n}"}, body)
        )
    page = _page(("body", {}, ("div", {"id": "area"}, *sections)), goal, hidden={"s-2"})
    assert _clicked(page, SOLVERS["click-collapsible-2"](page, {})) == "h-2"
    # click-link: all links on one page
    page = _page(
        (
            "body",
            {},
            (
                "div",
                {"id": "area"},
                ("span", {"class": "alink"}, "Proin."),
                ("span", {"class": "alink"}, "proin"),
            ),
        ),
        'Click on the link "proin".',
    )
    assert _clicked(page, SOLVERS["click-link"](page, {})) == "proin"
