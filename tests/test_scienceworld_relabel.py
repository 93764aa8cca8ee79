"""The ScienceWorld template relabeler on a hand-made trajectory (no JVM needed)."""

from __future__ import annotations

import pytest

from lbi_icl.data import Step, Trajectory
from lbi_icl.synth.base import Relabeler
from lbi_icl.synth.relabel_scienceworld import (
    RELABELER,
    WRITER,
    ScienceWorldTemplateRelabeler,
    effect_of,
    is_noop,
    short_change,
)

pytestmark = pytest.mark.scienceworld

HALL = "This room is called the hallway. In it, you see: \n\tthe agent\n\ta picture\n"
AMBIG = (
    "Ambiguous request: Please enter the number for the action you intended "
    "(or blank to cancel):\n0: pick up thermometer\n1: pick up thermometer"
)
# (observation o_i, action a_{i+1}); o_{i+1} is the next row's observation.
ROWS = [
    (HALL, "fly to the moon"),  # 0
    ("No known action matches that input.", "open door to kitchen"),  # 1
    ("The door is now open.", "go to kitchen"),  # 2
    ("You move to the kitchen.", "pick up thermometer"),  # 3
    (AMBIG, "0"),  # 4: answers the ambiguity prompt
    ("You move the thermometer to the inventory.", "pick up metal pot"),  # 5
    ("You move the metal pot to the inventory.", "move metal pot to stove"),  # 6
    ("You move the metal pot to the stove.", "activate stove"),  # 7
    ("The stove is now activated.", "open door to kitchen"),  # 8
    ("The door is already open.", "xyzzy"),  # 9
    ("No known action matches that input.", "focus on water"),  # 10
]
FINAL = "You focus on the water."


def _traj() -> Trajectory:
    return Trajectory(
        id="sw-hand",
        env="scienceworld",
        instruction="Your task is to boil water.",
        steps=[Step(observation=o, action=a) for o, a in ROWS],
        final_observation=FINAL,
        source={"kind": "rollout"},
    )


def test_protocol() -> None:
    assert isinstance(RELABELER, Relabeler)
    assert isinstance(RELABELER, ScienceWorldTemplateRelabeler)
    assert RELABELER.name == WRITER == "template-scienceworld"


def test_found_by_the_relabeler_registry_and_options() -> None:
    from lbi_icl.synth.relabelers import get_relabeler

    assert get_relabeler("scienceworld") is RELABELER
    short = get_relabeler("scienceworld", max_clauses=1)
    assert isinstance(short, ScienceWorldTemplateRelabeler)
    # one clause: the most telling effect of the window (the focus) wins
    assert short.relabel(_traj(), 5, 11)[0].instruction == "Focus on the water."
    with pytest.raises(ValueError):
        ScienceWorldTemplateRelabeler(max_clauses=0)


def test_noop_windows_yield_nothing() -> None:
    t = _traj()
    assert RELABELER.relabel(t, 0, 1) == []  # 'fly to the moon' -> no match
    assert RELABELER.relabel(t, 3, 4) == []  # ambiguity prompt: nothing happened yet
    assert RELABELER.relabel(t, 8, 10) == []  # already open, then no match


def test_abstract_and_summarize() -> None:
    t = _traj()
    out = RELABELER.relabel(t, 0, 5)
    assert [w.kind for w in out] == ["abstract", "summarize"]
    assert all(w.writer == WRITER for w in out)
    # the door opened on the way is implied by going through it; '0' resolves to pick up
    assert out[0].instruction == "Go to the kitchen, then pick up the thermometer."
    summary = out[1].instruction
    assert summary.startswith("Replicate the following: after 'open door to kitchen'")
    assert "after 'go to kitchen' the observation was 'You move to the kitchen.'" in summary
    assert "after 'pick up thermometer' (option 0) the observation was 'You move the" in summary
    assert "fly to the moon" not in summary and summary.count("pick up thermometer") == 1


def test_pick_then_move_and_focus() -> None:
    out = RELABELER.relabel(_traj(), 5, 11)
    assert out[0].kind == "abstract"
    assert out[0].instruction == (
        "Move the metal pot to the stove, activate the stove, and then focus on the water."
    )
    assert "after 'focus on water' the observation was 'You focus on the water.'" in (
        out[1].instruction
    )


def test_informational_window_gets_only_a_summary() -> None:
    t = Trajectory(
        id="sw-look",
        env="scienceworld",
        instruction="look",
        steps=[Step(observation="You move to the kitchen.", action="look around")],
        final_observation="This room is called the kitchen. In it, you see: \n\ta stove",
    )
    out = RELABELER.relabel(t, 0, 1)
    assert [w.kind for w in out] == ["summarize"]
    assert "'This room is called the kitchen.'" in out[0].instruction


def test_window_bounds() -> None:
    with pytest.raises(ValueError, match="sw-hand"):
        RELABELER.relabel(_traj(), 3, 3)
    with pytest.raises(ValueError, match="outside"):
        RELABELER.relabel(_traj(), 0, 12)


@pytest.mark.parametrize(
    ("action", "obs", "expected"),
    [
        ("go to outside", "You move to the outside.", "go outside"),
        ("drop cup", "You move the cup to the kitchen.", "put down the cup"),
        (
            "mix jug",
            "Blue and yellow paint mix to produce green paint.",
            "mix blue and yellow paint to make green paint",
        ),
        (
            "use thermometer in inventory on ice",
            "the thermometer measures a temperature of -4 degrees celsius",
            "measure the temperature of the ice",
        ),
        (
            "connect battery anode to black wire terminal 1",
            "anode on battery is now connected to terminal 1 on black wire",
            "connect the anode on battery to the terminal 1 on black wire",
        ),
        (
            "pour cup in jug",
            "You pour the contents of the wood cup into the jug.",
            "pour the contents of the wood cup into the jug",
        ),
        (
            "connect sink to table",
            "terminal 1 on sink is now connected to terminal 1 on table",
            None,  # wiring furniture together is no goal
        ),
        ("wait", "You decide to wait for 10 iterations.", "wait"),
        ("look at picture", "a picture of a farm.", None),
        ("open picture", "The picture is not openable.", None),
    ],
)
def test_effect_templates(action: str, obs: str, expected: str | None) -> None:
    eff = effect_of(action, obs)
    assert (eff.text if eff else None) == expected


def test_noop_and_short_change() -> None:
    assert is_noop("The door is not open.") and is_noop("That can't be moved there.")
    assert not is_noop("(disconnecting aluminum foil)You move the aluminum foil to the red box.")
    long = "word " * 60
    assert short_change(long).endswith("...") and len(short_change(long)) <= 125
