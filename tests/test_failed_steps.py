"""Cutting failed-action steps from synthetic examples (lbi_icl/synth/failed_steps.py)."""

from __future__ import annotations

from lbi_icl.data import Step, Trajectory
from lbi_icl.synth.failed_steps import (
    WEB_ENVS,
    babyai_failed,
    cut_failed_steps,
    failed_test,
    scienceworld_failed,
    web_failed,
)

NO_MATCH = "No known action matches that input."


def sw(steps: list[tuple[str, str]], final: str) -> Trajectory:
    return Trajectory(
        id="t",
        env="scienceworld",
        instruction="boil water",
        steps=[Step(observation=o, action=a) for o, a in steps],
        final_observation=final,
    )


def test_scienceworld_test_recognizes_rejections_only() -> None:
    for msg in (
        NO_MATCH,
        "You can't move something into itself.",
        "Unknown action.",
        "The door is already open.",
        "It's not clear how to do that.",
    ):
        assert scienceworld_failed("x", "before", msg), msg
    for msg in ("You move to the kitchen.", "The door is now open.", "You focus on the water."):
        assert not scienceworld_failed("x", "before", msg), msg
    assert failed_test("scienceworld") is scienceworld_failed
    assert failed_test("no-such-env") is None


def test_cut_replaces_the_failure_message_with_the_unchanged_state() -> None:
    t = sw(
        [
            ("You are in the hall.", "open door to kitchen"),
            ("The door is now open.", "fly away"),
            (NO_MATCH, "jump"),
            (NO_MATCH, "go to kitchen"),
            ("You move to the kitchen.", "pick up pot"),
        ],
        "You move the pot to the inventory.",
    )
    out, cut = cut_failed_steps(t, scienceworld_failed)
    assert cut == 2
    assert [(s.observation, s.action) for s in out.steps] == [
        ("You are in the hall.", "open door to kitchen"),
        ("The door is now open.", "go to kitchen"),
        ("You move to the kitchen.", "pick up pot"),
    ]
    assert out.final_observation == t.final_observation
    assert out.source["failed_steps_cut"] == 2
    assert cut_failed_steps(out, scienceworld_failed) == (out, 0)


def test_a_failed_last_step_leaves_its_state_as_the_final_observation() -> None:
    t = sw([("You are in the hall.", "go north"), ("You go north.", "eat wall")], NO_MATCH)
    out, cut = cut_failed_steps(t, scienceworld_failed)
    assert cut == 1 and out.final_observation == "You go north."
    only = sw([("You are in the hall.", "eat wall")], NO_MATCH)
    empty, cut = cut_failed_steps(only, scienceworld_failed)
    assert cut == 1 and empty.steps == []


def test_babyai_no_op_moves_and_invalid_actions() -> None:
    view = "You see: a wall 1 step forward.\nYou are carrying nothing."
    turned = "You see: a red key 2 steps forward.\nYou are carrying nothing."
    assert babyai_failed("go forward", view, view)  # walked into the wall
    assert babyai_failed("pick up", view, view)
    assert babyai_failed("jump", view, "Invalid action 'jump'. Choose one of: ...\n" + view)
    assert not babyai_failed("turn left", view, turned)
    assert not babyai_failed("done", view, view)
    t = Trajectory(
        id="b",
        env="babyai",
        instruction="go to the red key",
        steps=[
            Step(observation=view, action="go forward"),
            Step(observation=view, action="turn left"),
            Step(observation=turned, action="go forward"),
        ],
        final_observation="You see: a red key 1 step forward.",
    )
    out, cut = cut_failed_steps(t, babyai_failed)
    assert cut == 1 and [s.action for s in out.steps] == ["turn left", "go forward"]


def web_obs(tree: str, error: str | None = None) -> str:
    """An observation as lbi_icl/envs/browsergym/text.render_observation writes it."""
    from lbi_icl.envs.browsergym.text import render_observation

    obs = {"axtree_txt": tree, "url": "miniwob://click-button.html", "last_action_error": error}
    return render_observation(obs, "Click on the OK button.", max_tree_chars=4000)[0]


def test_web_actions_browsergym_rejected_are_cut(monkeypatch) -> None:
    from lbi_icl.envs.browsergym import text

    monkeypatch.setattr(text, "tree_text", lambda obs, n: (obs["axtree_txt"], {}))
    page = "RootWebArea 'Click Button Task'\n\t[13] button 'OK', clickable"
    rejected = web_obs(page, "ValueError: Received an empty action.")
    assert "Last action error: ValueError" in rejected  # the header the test reads
    assert web_failed("click([13])", web_obs(page), rejected)
    assert not web_failed('click("13")', web_obs(page), web_obs(page + "\n\tStaticText 'Done'"))
    # page text that says so is not an error line: only the header above the tree counts
    fake = page + "\nLast action error: none, this is page text"
    assert not web_failed("click('13')", web_obs(page), web_obs(fake))
    assert all(failed_test(env) is web_failed for env in WEB_ENVS)

    t = Trajectory(
        id="w",
        env="miniwob",
        instruction="Click OK",
        steps=[
            Step(observation=web_obs(page), action="click([13])"),
            Step(observation=rejected, action="click([13])"),
            Step(observation=rejected, action="click('13')"),
        ],
        final_observation=web_obs("RootWebArea 'Done'"),
    )
    out, cut = cut_failed_steps(t, failed_test("miniwob"))  # type: ignore[arg-type]
    assert cut == 2 and [s.action for s in out.steps] == ["click('13')"]
    assert out.steps[0].observation == web_obs(page)  # the state before, without the error
    only_rejected = t.model_copy(update={"steps": t.steps[:2], "final_observation": rejected})
    empty, cut = cut_failed_steps(only_rejected, web_failed)
    assert cut == 2 and empty.steps == []


def test_the_cli_keeps_failed_steps_unless_asked_to_cut_them() -> None:
    import argparse

    import pytest

    from lbi_icl.commands.synth import build_config, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["synthesize", "--env", "babyai", "--out", "x.jsonl"]
    assert build_config(parser.parse_args(base)).failed_filter is False
    assert build_config(parser.parse_args([*base, "--keep-failed-steps"])).failed_filter is False
    assert build_config(parser.parse_args([*base, "--cut-failed-steps"])).failed_filter is True
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--cut-failed-steps", "--keep-failed-steps"])
