"""Action parsing: tolerant extraction and matching to the environment's valid actions."""

from __future__ import annotations

import pytest

from lbi_icl.agent.parse import clean_action, normalize_action, parse_action

VALID = ["go forward", "turn left", "pick up the red key", "open door to kitchen"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reason: ahead is free\nAction: go forward", "go forward"),
        ("reason: x\naction: Go Forward.", "go forward"),
        ("REASON: x\nACTION: 'turn left'", "turn left"),
        ('Reason: x\nAction: "pick up the red key"!', "pick up the red key"),
        ("```\nReason: x\nAction: go forward\n```", "go forward"),
        ("```text\nAction: `turn left`\n```", "turn left"),
        ("**Reason:** x\n**Action:** turn left", "turn left"),
        ("Reason: x\nAction:\n  open door to kitchen\n", "open door to kitchen"),
        ("Reason: x\n- Action: “turn left”", "turn left"),
        ("go forward", "go forward"),  # an unlabelled one-line answer is the action
        ("Reason: format is Action: <...>\nAction: turn left", "turn left"),
        ("Action: PICK UP the red-key", "pick up the red key"),  # normalized match
    ],
)
def test_parses_and_matches(text: str, expected: str) -> None:
    got = parse_action(text, VALID)
    assert got.parsed
    assert got.action == expected
    assert got.valid is True


def test_exact_match_preferred_over_normalized() -> None:
    valid = ["Go forward", "go forward"]
    assert parse_action("Action: go forward", valid).match == "exact"
    assert parse_action("Action: go forward", valid).action == "go forward"
    got = parse_action("Action: GO FORWARD", valid)
    assert (got.match, got.action) == ("normalized", "Go forward")  # first in list order


def test_last_action_line_wins_and_reason_is_kept() -> None:
    got = parse_action("Reason: the key is near\nAction: turn left\nAction: go forward", VALID)
    assert got.action == "go forward"
    assert got.reason == "the key is near"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "I am not sure what to do.\nMaybe later.",
        "Reason: thinking",
        "Action:   ",
        "```\n```",
    ],
)
def test_unparsable(text: str) -> None:
    got = parse_action(text, VALID)
    assert not got.parsed
    assert got.action is None


def test_unlabelled_answer_needs_a_valid_action() -> None:
    assert not parse_action("hmm, let me think", VALID).parsed
    assert not parse_action("go forward", None).parsed  # nothing to check it against
    assert parse_action("Turn left.", VALID).action == "turn left"


def test_no_valid_list_keeps_cleaned_text() -> None:
    got = parse_action("Reason: r\nAction: look around.", None)
    assert (got.parsed, got.action, got.valid, got.match) == (
        True,
        "look around",
        None,
        "unchecked",
    )


def test_invalid_action_is_parsed_but_not_valid() -> None:
    got = parse_action("Action: fly away", VALID)
    assert got.parsed
    assert got.valid is False
    assert got.action == "fly away"


def test_helpers() -> None:
    assert normalize_action("  Pick-Up,  the KEY! ") == "pick up the key"
    assert clean_action(' **"go forward."** ') == "go forward"
