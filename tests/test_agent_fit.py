"""Fitting the prompt into a small context: retrieval block first (lowest rank first), then
history (oldest first), an impossible fit is a clear error; and the query-writer cleanup."""

from __future__ import annotations

import pytest

from lbi_icl.agent.base import AgentConfig
from lbi_icl.agent.fit import (
    PromptTooLongError,
    estimate_tokens,
    fit_messages,
    join_reference,
    split_reference,
)
from lbi_icl.agent.prompt import SECTION_OBJECTIVE, SECTION_REFERENCE, HistoryEntry
from lbi_icl.retrieval.model import clean_query

REFERENCE = (
    "Examples of similar situations and the actions taken in them:\n\n"
    + "\n\n".join(
        f"Example {i} (found by observation, score 1)\nTask: t{i}\n" + "x" * 300 for i in (1, 2, 3)
    )
    + "\n\nDocumentation:\n\nDocument 1: manual\n"
    + "d" * 300
)
HISTORY = [
    HistoryEntry(step=i, observation=f"room {i} " + "o" * 200, action="go") for i in range(4)
]


def _fit(
    context: int | None,
    reference: str = REFERENCE,
    history_steps: int = 4,
    layout: str = "stable_first",
):
    cfg = AgentConfig(
        context_tokens=context,
        max_output_tokens=50,
        history_steps=history_steps,
        prompt_layout=layout,  # type: ignore[arg-type]
    )
    return fit_messages(
        action_space_text="Actions: go, stop.",
        instruction="Reach the exit of the maze.",
        observation="You are in a corridor.",
        history=HISTORY,
        reference=reference,
        config=cfg,
    )


def test_reference_splits_into_items_and_rejoins() -> None:
    chunks = split_reference(REFERENCE)
    assert len(chunks) == 4 and chunks[0].startswith("Examples of similar")
    assert chunks[3].startswith("Document 1: manual")
    assert join_reference(chunks) == REFERENCE
    assert join_reference(chunks[:3]).endswith("x" * 300)  # the orphaned docs header goes
    assert split_reference("  ") == []


def test_no_context_means_no_fitting() -> None:
    full = _fit(None)
    assert full.budget is None and full.items_dropped == 0 and full.history_dropped == 0
    assert "Document 1" in full.messages[1].content


@pytest.mark.parametrize("layout", ["stable_first", "examples_first"])
def test_examples_go_first_lowest_rank_first_then_history(layout: str) -> None:
    full = _fit(None, layout=layout)
    objective = full.messages[1].content.index(SECTION_OBJECTIVE)
    examples = full.messages[1].content.index(SECTION_REFERENCE)
    assert (objective < examples) == (layout == "stable_first")
    # room for everything but the document and the third example
    budget = full.tokens - estimate_tokens(full.messages[1:]) // 3
    r = _fit(budget + 50, layout=layout)
    assert r.items_dropped >= 1 and r.history_dropped == 0 and r.tokens <= budget
    user = r.messages[1].content
    assert "Example 1 " in user and "Document 1" not in user
    # tighter: all examples gone, then the oldest history steps
    bare = _fit(None, reference="", history_steps=0, layout=layout)
    r = _fit(bare.tokens + 50 + 80, layout=layout)
    user = r.messages[1].content
    assert SECTION_REFERENCE not in user and r.items_dropped == 4
    assert 1 <= r.history_dropped < 4
    assert "room 3 " in user and "room 0 " not in user  # newest history kept
    assert "Reach the exit of the maze." in user  # the instruction is never cut


@pytest.mark.parametrize("layout", ["stable_first", "examples_first"])
def test_impossible_fit_is_a_clear_error(layout: str) -> None:
    with pytest.raises(PromptTooLongError, match=r"without any retrieved example or history"):
        _fit(60, layout=layout)


@pytest.mark.parametrize(
    ("raw", "query"),
    [
        ("open the door to the kitchen", "open the door to the kitchen"),
        ('Query: "boil water on the stove"', "boil water on the stove"),
        ("```\nsearch query: find a key\n```", "find a key"),
        ("Here is the search query:\n\n**pick up the red ball**", "pick up the red ball"),
        ("**Search query:**\n- go to the green door", "go to the green door"),
        ("1. melt ice in a pot", "melt ice in a pot"),
        ("", ""),
    ],
)
def test_clean_query(raw: str, query: str) -> None:
    assert clean_query(raw) == query


def test_clean_query_caps_words() -> None:
    assert clean_query("a b c d e f", max_words=4) == "a b c d"
