"""Web adapter pieces that need no browser: the observation cut rule, candidate actions,
action parsing, the template relabeler and the coverage explorer's choices."""

from __future__ import annotations

import pytest

from lbi_icl.data import Step, Trajectory
from lbi_icl.envs.browsergym.env import element_line, parse_action
from lbi_icl.envs.browsergym.text import candidate_actions, cut_tree, text_candidates
from lbi_icl.synth.relabel_web import WebTemplateRelabeler, describe_element, effect_clause


def _node(node_id, role, name="", bid=None, children=(), **extra):
    n = {
        "nodeId": str(node_id),
        "role": {"value": role},
        "name": {"value": name},
        "childIds": [str(c) for c in children],
        "properties": extra.pop("properties", []),
    }
    if bid is not None:
        n["browsergym_id"] = bid
    n.update(extra)
    return n


def _obs():
    nodes = [
        _node(1, "RootWebArea", "Form", children=[2, 3, 4, 5, 9]),
        _node(2, "textbox", "Name", bid="14"),
        _node(3, "button", "Submit", bid="15"),
        _node(4, "button", "Hidden", bid="16"),
        _node(
            5,
            "button",
            "Off",
            bid="17",
            properties=[{"name": "disabled", "value": {"value": True}}],
        ),
        _node(9, "combobox", "", bid="20", children=[10]),
        _node(10, "MenuListPopup", "", children=[11, 12]),
        _node(11, "option", "Ertha", bid="21"),
        _node(12, "option", "Aurie", bid="22"),
    ]
    visible = {"visibility": 1.0, "clickable": True}
    props = {b: dict(visible) for b in ("14", "15", "17", "20")}
    props["16"] = {"visibility": 0.0, "clickable": True}
    props["21"] = props["22"] = {"visibility": 0.0, "clickable": False}
    return {"axtree_object": {"nodes": nodes}, "extra_element_properties": props}


def test_candidate_actions_cover_visible_enabled_elements_only() -> None:
    acts = candidate_actions(_obs(), 'Enter "Myron" and select Ertha, then press Submit.')
    assert 'fill("14", "Myron")' in acts and 'click("15")' in acts
    assert 'select_option("20", "Ertha")' in acts and 'select_option("20", "Aurie")' in acts
    assert not any('"16"' in a for a in acts), "invisible element offered"
    assert not any('"17"' in a for a in acts), "disabled element offered"
    assert not any(a.startswith('fill("20"') for a in acts), "a drop-down is not typed into"
    assert len(acts) == len(set(acts))


def test_candidate_actions_fall_back_to_any_visible_element() -> None:
    obs = {
        "axtree_object": {"nodes": [_node(1, "SvgRoot", "", bid="13")]},
        "extra_element_properties": {"13": {"visibility": 1.0, "clickable": False}},
    }
    assert candidate_actions(obs, "Click on the numbers in ascending order.") == ['click("13")']
    assert candidate_actions({"axtree_object": {"nodes": []}}, "x") == ["noop()"]


def test_text_candidates_from_the_goal() -> None:
    goal = "Book the shortest one-way flight from: Corpus Christi, TX to: SHG on 12/05/2016."
    assert text_candidates(goal)[:4] == ["12/05/2016", "Corpus Christi", "TX", "SHG"]
    assert text_candidates('Enter "Myron" into the text field.')[0] == "Myron"
    assert text_candidates("Enter 42 twice") == ["42"]
    assert text_candidates("nothing to type") == ["text"]


def test_cut_tree_keeps_a_window_around_the_focused_element() -> None:
    lines = [f"[{i}] button 'b{i}', visible" for i in range(100)]
    tree = "\n".join(lines)
    text, cut = cut_tree(tree, 300, "50")
    assert cut and len(text) <= 300 + 80  # + the two markers
    assert "[50] button 'b50'" in text
    assert text.startswith("[... ") and "lines above not shown" in text.splitlines()[0]
    assert "lines below not shown" in text.splitlines()[-1]
    top, _ = cut_tree(tree, 300, None)
    assert "[0] button" in top and "above" not in top
    same, cut2 = cut_tree(tree, len(tree), "50")
    assert same == tree and not cut2


def test_parse_action_and_element_line() -> None:
    assert parse_action('click("12")') == ("click", ["12"])
    assert parse_action("fill('5', 'a, b')") == ("fill", ["5", "a, b"])
    assert parse_action('select_option("a48", "blue")') == ("select_option", ["a48", "blue"])
    assert parse_action("go_back()") == ("go_back", [])
    assert parse_action("not a call") == ("", [])
    obs = "Accessibility tree:\n\t[21] textbox 'To:' value='12', clickable, visible"
    assert element_line(obs, "21") == "textbox 'To:'"
    assert element_line(obs, "2") is None


def _traj(effects, *, success_at_end=False):
    steps = []
    for i, eff in enumerate(effects):
        info = {"effect": eff, "success": success_at_end and i == len(effects) - 1}
        steps.append(
            Step(
                observation=f'Goal: Enter "Myron" and press Submit.\nURL: u\nstep {i}',
                action=eff.get("action", "noop()"),
                info=info,
            )
        )
    return Trajectory(
        id="t/coverage",
        env="miniwob",
        instruction="Enter given text to a textfield.",
        steps=steps,
        final_observation="end",
        source={"kind": "rollout"},
    )


def test_relabeler_reads_effects_and_skips_noops() -> None:
    fill = {"verb": "fill", "ok": True, "element": "textbox ''", "text": "Myron"}
    fill["action"] = 'fill("14", "Myron")'
    bad = {"verb": "click", "ok": False, "element": "button 'X'", "action": 'click("99")'}
    submit = {"verb": "click", "ok": True, "element": "button 'Submit'", "action": 'click("15")'}
    rel = WebTemplateRelabeler()
    out = rel.relabel(_traj([fill, bad, submit], success_at_end=True), 0, 3)
    texts = [(w.kind, w.instruction) for w in out]
    assert ("abstract", 'Enter "Myron" and press Submit.') in texts  # the goal, achieved
    assert ("abstract", 'Type "Myron" into the text field, then click the "Submit" button.') in (
        texts
    )
    summary = next(t for k, t in texts if k == "summarize")
    assert 'fill("14", "Myron") on textbox' in summary and 'click("99")' not in summary
    # a window that does not start at 0 never claims the goal
    later = rel.relabel(_traj([fill, bad, submit], success_at_end=True), 1, 3)
    assert all('Enter "Myron" and press' not in w.instruction for w in later)
    assert rel.relabel(_traj([bad]), 0, 1) == []


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("button 'Submit'", 'the "Submit" button'),
        ("textbox ''", "the text field"),
        ('link "it\'s here"', 'the "it\'s here" link'),
        (None, "an element"),
    ],
)
def test_describe_element(element, expected) -> None:
    assert describe_element(element) == expected


def test_effect_clause_pages_and_answers() -> None:
    assert effect_clause({"verb": "goto", "text": "http://x/"}) == "open http://x/"
    assert effect_clause({"verb": "send_msg_to_user", "text": "42"}) == 'answer "42"'
    assert effect_clause({"verb": "noop"}) is None
    assert effect_clause({"verb": "scroll"}) is None
