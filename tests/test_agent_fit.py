"""Fitting the prompt into a small context, by structure: retrieved items go first (lowest
rank first), then history (oldest first); nothing is over budget when dropping can fit it;
headings and templates play no part; an impossible fit is a clear error; one token
estimate in the whole package; and the query-writer cleanup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbi_icl.agent.base import DEFAULT_OUTPUT_TOKENS, AgentConfig
from lbi_icl.agent.fit import (
    MESSAGE_OVERHEAD,
    PromptTooLongError,
    estimate_prompt_tokens,
    fit_messages,
)
from lbi_icl.agent.prompt import SECTION_OBJECTIVE, SECTION_REFERENCE, HistoryEntry
from lbi_icl.data import Step
from lbi_icl.prompts import load_prompts
from lbi_icl.retrieval import render
from lbi_icl.retrieval.base import RetrievedItem
from lbi_icl.retrieval.model import clean_query
from lbi_icl.util.tokenizer import estimate_tokens

PKG = Path(__file__).resolve().parents[1] / "lbi_icl"


def _example(rank: int) -> RetrievedItem:
    return RetrievedItem(
        id=f"ex-{rank}",
        score=1.0 / (rank + 1),
        rank=rank,
        strategy="observation",
        query="q",
        matched_step=0,
        span=(0, 1),
        instruction=f"task of rank {rank}",
        window=[Step(observation=f"example room {rank} " + "x" * 300, action="go")],
    )


def _document(rank: int) -> RetrievedItem:
    return RetrievedItem(
        id=f"doc-{rank}",
        kind="document",
        score=0.5,
        rank=rank,
        strategy="rag",
        query="q",
        instruction="manual",
        text="d" * 300,
    )


ITEMS = [_example(0), _example(1), _example(2), _document(3)]
HISTORY = [
    HistoryEntry(step=i, observation=f"room {i} " + "o" * 200, action="go") for i in range(4)
]


def _fit(
    context: int | None,
    items: list[RetrievedItem] = ITEMS,
    history_steps: int = 4,
    layout: str = "stable_first",
    **kw: object,
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
        items=items,
        config=cfg,
        **kw,  # type: ignore[arg-type]
    )


def _shown(result) -> list[str]:  # type: ignore[no-untyped-def]
    """The retrieved items a fitted prompt shows, by their instruction / title."""
    user = result.messages[1].content
    return [it.id for it in ITEMS if (it.instruction or "") in user and it.kind == "example"] + [
        it.id for it in ITEMS if it.kind == "document" and "Document" in user
    ]


def test_no_context_means_no_fitting() -> None:
    full = _fit(None)
    assert full.budget is None and full.items_dropped == 0 and full.history_dropped == 0
    assert full.items_shown == 4 and "Document 4: manual" in full.messages[1].content


@pytest.mark.parametrize("layout", ["stable_first", "examples_first"])
def test_items_go_first_lowest_rank_first_then_history(layout: str) -> None:
    full = _fit(None, layout=layout)
    objective = full.messages[1].content.index(SECTION_OBJECTIVE)
    examples = full.messages[1].content.index(SECTION_REFERENCE)
    assert (objective < examples) == (layout == "stable_first")
    # room for everything but the two lowest-ranked items
    two = _fit(None, items=ITEMS[:2], layout=layout)
    r = _fit(two.tokens + 50, layout=layout)
    assert (r.items_dropped, r.items_shown, r.history_dropped) == (2, 2, 0)
    assert r.messages == two.messages and _shown(r) == ["ex-0", "ex-1"]
    # tighter: every item gone, then the oldest history steps
    bare = _fit(None, items=[], history_steps=0, layout=layout)
    r = _fit(bare.tokens + 50 + 80, layout=layout)
    user = r.messages[1].content
    assert SECTION_REFERENCE not in user and r.items_dropped == 4 and r.items_shown == 0
    assert 1 <= r.history_dropped < 4
    assert "room 3 " in user and "room 0 " not in user  # newest history kept
    assert "Reach the exit of the maze." in user  # the instruction is never cut


def test_rank_decides_not_list_order() -> None:
    """Items handed over out of order are shown in rank order and dropped from the
    highest rank (the lowest-ranked item), whatever their position in the list."""
    shuffled = [ITEMS[2], ITEMS[3], ITEMS[0], ITEMS[1]]
    assert _fit(None, items=shuffled).messages == _fit(None).messages
    two = _fit(None, items=ITEMS[:2])
    r = _fit(two.tokens + 50, items=shuffled)
    assert r.items_dropped == 2 and _shown(r) == ["ex-0", "ex-1"]


def test_never_over_budget_when_dropping_can_fit() -> None:
    """Every budget from "nothing fits" to "everything fits": the prompt is within it, and
    it keeps as much as fits (one more item, or one more history step, would not)."""
    bare = _fit(None, items=[], history_steps=0).tokens
    full = _fit(None).tokens
    for context in range(bare + 50 - 3, full + 50 + 3):
        budget = context - 50
        if budget < bare:
            with pytest.raises(PromptTooLongError):
                _fit(context)
            continue
        r = _fit(context)
        assert r.budget == budget and r.tokens <= budget
        assert r.tokens == estimate_prompt_tokens(r.messages)
        if r.items_shown < len(ITEMS):  # the next item would not have fitted
            assert _fit(None, items=ITEMS[: r.items_shown + 1]).tokens > budget
        if r.history_dropped:  # history is cut only once every item is gone
            assert r.items_shown == 0
            steps = 4 - r.history_dropped + 1
            assert _fit(None, items=[], history_steps=steps).tokens > budget


def test_renamed_heading_and_own_template_fit_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fitting counts items, never headings: a renamed section heading (a user's own
    agent_reference template) and renamed block headers drop the same items."""
    own = tmp_path / "agent_reference.txt"
    own.write_text("### Hints from similar tasks (use with care)\n$reference\n", encoding="utf-8")
    prompts = load_prompts({"agent_reference": own})
    monkeypatch.setattr(render, "EXAMPLES_HEADER", "Worked cases:")
    monkeypatch.setattr(render, "DOCS_HEADER", "Manual pages:")
    full = _fit(None, prompts=prompts)
    user = full.messages[1].content
    assert "### Hints from similar tasks" in user and "Worked cases:" in user
    assert SECTION_REFERENCE not in user and "Examples of similar" not in user
    for keep in range(len(ITEMS) + 1):
        want = _fit(None, items=ITEMS[:keep], prompts=prompts)
        r = _fit(want.tokens + 50, prompts=prompts)
        assert r.items_shown == keep and r.messages == want.messages
    r = _fit(_fit(None, items=ITEMS[:3], prompts=prompts).tokens + 50, prompts=prompts)
    assert "Manual pages:" not in r.messages[1].content  # a header goes with its last item


@pytest.mark.parametrize("layout", ["stable_first", "examples_first"])
def test_impossible_fit_is_a_clear_error(layout: str) -> None:
    with pytest.raises(PromptTooLongError, match=r"without any retrieved example or history"):
        _fit(60, layout=layout)


def test_estimate_is_the_one_in_util_tokenizer() -> None:
    assert estimate_tokens("x" * 9) == 3 and estimate_tokens("x" * 8) == 2  # ceil(chars / 4)
    assert estimate_tokens("room 12, 3") == 7 and estimate_tokens("") == 0  # pieces
    assert estimate_tokens("x" * 9, 3.0) == 3 and estimate_tokens("room 12, 3", 4.0) == 3
    r = _fit(None)
    assert r.tokens == sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD for m in r.messages)
    assert AgentConfig().chars_per_token is None  # fitting uses the one estimate
    r3 = fit_messages(  # a recorded run's ratio replaces it
        action_space_text="Actions: go, stop.",
        instruction="Reach room 12.",
        observation="You are in room 3.",
        history=HISTORY,
        items=ITEMS,
        config=AgentConfig(chars_per_token=3.0),
    )
    assert r3.tokens == sum(-(-len(m.content) // 3) + MESSAGE_OVERHEAD for m in r3.messages)
    item = _example(0)
    assert render.item_tokens(item, 1) == estimate_tokens(render.render_item(item, 1))


# What only the one estimate may do: define a characters-per-token ratio or an estimate
# function, or divide a length (or a character count) by a ratio; each pattern with the
# files allowed to match it.
# And the agent's default answer cap (synthesis has its own generation lengths).
_ONE_PLACE = [
    (re.compile(r"^\s*CHARS_PER_TOKEN\s*[:=]", re.M), "", {"util/tokenizer.py"}),
    (re.compile(r"def \w*(estimate|count)_tokens\b"), "", {"util/tokenizer.py"}),
    (re.compile(r"len\([^()]*\)\s*/(?!/)\s*[2-5](\.\d+)?\b(?!\s*\*)"), "", set()),
    (
        re.compile(r"(chars|len\([^()]*\))\s*/(?!/)\s*(chars_per_token|CHARS_PER_TOKEN)"),
        "",
        {"util/tokenizer.py"},
    ),
    (re.compile(r"\b512\b"), "agent/", {"agent/base.py"}),
]


def test_one_estimator_and_one_output_default_in_the_package() -> None:
    for pattern, scope, allowed in _ONE_PLACE:
        found = {
            path.relative_to(PKG).as_posix()
            for path in sorted(PKG.rglob("*.py"))
            if path.relative_to(PKG).as_posix().startswith(scope)
            and pattern.search(path.read_text(encoding="utf-8"))
        }
        assert found <= allowed, (pattern.pattern, sorted(found - allowed))
    assert DEFAULT_OUTPUT_TOKENS == 512


def test_a_run_recorded_with_the_old_estimate_resumes_unless_it_fitted() -> None:
    """Without a context nothing is fitted, so a run recorded with the former default of
    3.0 characters per token resumes; with one its prompts would change: refused."""
    from lbi_icl.runner.config import RunConfig

    for context in (None, 4096):
        now = {"agent": AgentConfig(context_tokens=context).model_dump(mode="json")}
        old = {"agent": {**now["agent"], "chars_per_token": 3.0}}
        assert (RunConfig.upgrade_fingerprint(old) == now) == (context is None)


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
