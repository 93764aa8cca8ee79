"""`setting_changes`: the `key: old → new` lines of a refused resume."""

from __future__ import annotations

from lbi_icl.util.changes import setting_changes


def test_nested_keys_are_dotted_and_values_shown() -> None:
    old = {"env": "babyai", "retrieval": {"m1": 3, "m2": 5}, "llm": None, "agent": {"x": 1}}
    new = {"env": "babyai", "retrieval": {"m1": 4, "m2": 5}, "llm": "openai:m", "agent": {"x": 1}}
    assert setting_changes(old, new) == ['llm: null → "openai:m"', "retrieval.m1: 3 → 4"]


def test_added_and_removed_keys_say_unset() -> None:
    assert setting_changes({"a": 1}, {"b": [1, 2]}) == ["a: 1 → (unset)", "b: (unset) → [1, 2]"]


def test_long_values_are_shortened_and_equal_dicts_give_nothing() -> None:
    (line,) = setting_changes({"p": "x" * 200}, {"p": "y"})
    assert line.startswith('p: "xxx') and "…" in line and line.endswith(' → "y"')
    assert len(line) < 80
    assert setting_changes({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 1}}}) == []
