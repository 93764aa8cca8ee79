"""Every retrieval strategy on a small hand-made index whose right answers are known."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbi_icl.data import Step, Task
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.index.load import ExampleIndex
from lbi_icl.llm import ScriptedLLM
from lbi_icl.retrieval import STRATEGIES, RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.base import RetrievalResult
from lbi_icl.retrieval.model import template_query
from lbi_icl.retrieval.render import render_reference

FIX = Path(__file__).parent / "fixtures" / "retrieval"
DOOR_OBS = "The red door is right in front of you. It is closed."
POT_OBS = "You carry the empty pot. The sink is here."
BROAD_OBS = "You see a red door, a green door, a blue key, a pot, a lamp and a dry plant."


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> ExampleIndex:
    out = tmp_path_factory.mktemp("ridx") / "toy"
    build_index(
        [FIX / "trajectories.jsonl"], out, docs=[FIX / "docs.jsonl"], embedder=HashEmbedder(64)
    )
    return load_index(out)


def ctx(
    observation: str, *, task: str | None = "x/1", instruction: str = "do it", **kw
) -> StepContext:
    return StepContext(
        instruction=instruction, observation=observation, env="toy", task_id=task, **kw
    )


def ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [it.id for it in result.items]


def shown(result: RetrievalResult) -> str:
    """The reference block the prompt builder renders from the result's items."""
    return render_reference(result.items, observation_chars=result.observation_chars)


def test_strategy_names_and_factory(index: ExampleIndex) -> None:
    assert STRATEGIES[:6] == ("none", "rag", "instruction", "observation", "model", "agentic")
    res = make_retriever("none", None).retrieve(ctx(DOOR_OBS))
    assert res.items == [] and shown(res) == "" and res.strategy == "none"
    with pytest.raises(ValueError, match="needs an index"):
        make_retriever("observation", None)
    with pytest.raises(ValueError, match="unknown retrieval strategy"):
        make_retriever("psychic", index)


def test_observation_returns_the_matching_example_with_window(index: ExampleIndex) -> None:
    res = make_retriever("observation", index).retrieve(ctx(DOOR_OBS))
    top = res.items[0]
    assert top.id == "ex-door" and top.strategy == "observation" and top.query == DOOR_OBS
    assert top.matched_step == 1 and top.span == (0, 2)
    assert top.window[top.matched_step - top.span[0]].action == "open door"
    assert "ex-other-env" not in ids(res)  # same_env filter
    assert "[t] Observation: The red door is right in front of you" in shown(res)
    assert "[t-1] Observation: You see a red door 2 steps forward." in shown(res)
    assert res.latency_s > 0 and res.llm_latency_s == 0
    # window size is configurable
    narrow = make_retriever("observation", index, RetrievalConfig(window_before=0, window_after=0))
    assert narrow.retrieve(ctx(DOOR_OBS)).items[0].span == (1, 2)


def test_env_filter_off_lets_other_env_in(index: ExampleIndex) -> None:
    res = make_retriever("observation", index, RetrievalConfig(same_env=False)).retrieve(
        ctx(DOOR_OBS)
    )
    assert {"ex-door", "ex-other-env"} <= set(ids(res))


def test_leakage_guard_removes_same_task_and_derived_examples(index: ExampleIndex) -> None:
    r = make_retriever("observation", index)
    assert "ex-door" not in ids(r.retrieve(ctx(DOOR_OBS, task="door/1")))
    open_ = ids(r.retrieve(ctx(POT_OBS, task=None)))
    assert open_[0] in ("ex-boil", "ex-boil-part")
    guarded = ids(r.retrieve(ctx(POT_OBS, task="boil/1")))
    # ex-boil-part has no task id of its own: it inherits its parent's
    assert "ex-boil" not in guarded and "ex-boil-part" not in guarded
    unguarded = make_retriever("observation", index, RetrievalConfig(leakage_guard=False))
    assert "ex-door" in ids(unguarded.retrieve(ctx(DOOR_OBS, task="door/1")))


def test_one_hit_per_source_trajectory(index: ExampleIndex) -> None:
    got = ids(make_retriever("observation", index).retrieve(ctx(POT_OBS, task=None)))
    assert len({"ex-boil", "ex-boil-part"} & set(got)) == 1
    cfg = RetrievalConfig(one_per_source=False)
    both = ids(make_retriever("observation", index, cfg).retrieve(ctx(POT_OBS, task=None)))
    assert {"ex-boil", "ex-boil-part"} <= set(both)


def test_metadata_filters(index: ExampleIndex) -> None:
    fail = make_retriever("observation", index, RetrievalConfig(outcomes=["failure"]))
    assert ids(fail.retrieve(ctx(DOOR_OBS))) == ["ex-door-green"]
    back = make_retriever("observation", index, RetrievalConfig(source_kinds=["backward"]))
    assert ids(back.retrieve(ctx(POT_OBS, task=None))) == ["ex-boil-part"]


def test_model_strategy_uses_the_llms_query(index: ExampleIndex) -> None:
    query = "water the plant in the garden with a watering can"
    llm = ScriptedLLM([f"Query: {query}"], name="qw")
    res = make_retriever("model", index).retrieve(ctx(DOOR_OBS, instruction="open a door"), llm)
    assert res.items[0].id == "ex-plant"
    assert all(it.query == query and it.query_writer == "llm:scripted:qw" for it in res.items)
    assert res.queries["model"] == query and res.queries["query_writer"] == "llm:scripted:qw"
    assert res.llm_latency_s >= 0
    assert res.items[0].matched_step is not None  # window aligned to the current state


def test_model_strategy_without_llm_uses_template(index: ExampleIndex) -> None:
    c = ctx(
        DOOR_OBS,
        instruction="open the red door",
        history=[Step(observation="o", action="go forward")],
    )
    res = make_retriever("model", index).retrieve(c)
    assert (
        template_query(c) == f"open the red door\nLast action: go forward\nObservation: {DOOR_OBS}"
    )
    assert res.items[0].query == template_query(c) and res.items[0].query_writer == "template"
    assert res.items[0].id in ("ex-door", "ex-door-green")


@pytest.mark.parametrize("fusion", ["none", "rrf"])
def test_agentic_never_returns_an_example_twice(index: ExampleIndex, fusion: str) -> None:
    cfg = RetrievalConfig(m1=3, m2=3, fusion=fusion, token_budget=None)
    llm = ScriptedLLM(lambda msgs: "open the red door", name="same")
    r = make_retriever("agentic", index, cfg)
    for obs in (DOOR_OBS, POT_OBS, "You see a blue key 1 step forward."):
        res = r.retrieve(ctx(obs, task=None), llm)
        got = ids(res)
        assert len(got) == len(set(got)) and 4 <= len(got) <= 6
        roots = [index.meta("root", index.index_of(i)) for i in got]
        assert len(roots) == len(set(roots))
        assert "observation" in res.queries and res.queries["model"] == "open the red door"
        if fusion == "none":  # observation (up to m1) and model hits (m2), interleaved by rank
            kinds = [it.strategy for it in res.items]
            n_obs = kinds.count("observation")
            both = [
                k for i in range(3) for k in ("observation", "model") if i < n_obs or k == "model"
            ]
            assert 1 <= n_obs <= 3 and kinds == both


def test_budget_drops_lowest_ranks_first(index: ExampleIndex) -> None:
    full = make_retriever("observation", index, RetrievalConfig(token_budget=None)).retrieve(
        ctx(BROAD_OBS)
    )
    assert len(full.items) >= 4 and not full.dropped
    budget = full.items[0].tokens + full.items[1].tokens + 1
    res = make_retriever("observation", index, RetrievalConfig(token_budget=budget)).retrieve(
        ctx(BROAD_OBS)
    )
    assert ids(res) == ids(full)[:2]
    assert [it.id for it in res.dropped] == ids(full)[2:]
    assert [it.rank for it in res.dropped] == list(range(2, len(full.items)))
    assert res.dropped[0].instruction not in shown(res)


def test_instruction_strategy_is_fixed_per_episode(index: ExampleIndex) -> None:
    r = make_retriever("instruction", index)
    r.reset(Task(id="door/9", env="toy", instruction="open the red door"))
    a = r.retrieve(ctx(DOOR_OBS, task="door/9", instruction="open the red door"))
    b = r.retrieve(ctx(POT_OBS, task="door/9", instruction="open the red door"))
    assert ids(a) == ids(b) and ids(a)[0] == "ex-door"
    assert a.items[0].score == pytest.approx(1.0)
    assert a.items[0].matched_step == 1  # aligned to the door observation
    assert all(it.strategy == "instruction" for it in a.items)


def test_rag_retrieves_docs_once(index: ExampleIndex) -> None:
    for fusion in ("none", "rrf"):
        r = make_retriever("rag", index, RetrievalConfig(fusion=fusion))
        r.reset(Task(id="t", env="toy", instruction="how do I open doors"))
        a = r.retrieve(ctx(DOOR_OBS, instruction="how do I open doors"))
        b = r.retrieve(ctx(POT_OBS, instruction="how do I open doors"))
        assert ids(a) == ids(b) and ids(a)[0] == "doc-doors#0"
        assert all(it.kind == "document" for it in a.items)
        assert "doc-other#0" not in ids(a)  # other env's docs are filtered
        assert "Documentation:" in shown(a) and "Document 1: Doors" in shown(a)


def test_mmr_reranks_within_admitted_pool(index: ExampleIndex) -> None:
    plain = make_retriever("observation", index, RetrievalConfig(m1=3))
    relevance_only = make_retriever("observation", index, RetrievalConfig(m1=3, mmr_lambda=1.0))
    diverse = make_retriever("observation", index, RetrievalConfig(m1=3, mmr_lambda=0.3))
    c = ctx(BROAD_OBS)
    assert ids(relevance_only.retrieve(c)) == ids(plain.retrieve(c))
    got = ids(diverse.retrieve(c))
    assert len(got) == 3 and len(set(got)) == 3 and got[0] == ids(plain.retrieve(c))[0]


def test_rendering_is_shared_by_strategies(index: ExampleIndex) -> None:
    c = ctx(DOOR_OBS, instruction="open the red door")
    for name in ("instruction", "observation", "model", "agentic"):
        res = make_retriever(name, index).retrieve(c)
        assert shown(res).startswith("Examples of similar situations")
        assert "Example 1 (found by" in shown(res) and "Task: " in shown(res)
        assert "[t] Observation:" in shown(res)
        assert all(it.tokens > 0 for it in res.items)


def test_mmr_prefers_a_different_example_over_a_near_copy() -> None:
    import numpy as np

    from lbi_icl.retrieval.base import RetrievedItem
    from lbi_icl.retrieval.select import Hit, mmr, rrf

    items = [
        RetrievedItem(id=i, score=s, rank=0, strategy="s", query="q")
        for i, s in (("a", 1.0), ("a-copy", 0.9), ("b", 0.5))
    ]
    vecs = np.asarray([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    assert [it.id for it in mmr(items, vecs, [0, 1, 2], 2, 1.0)] == ["a", "a-copy"]
    assert [it.id for it in mmr(items, vecs, [0, 1, 2], 2, 0.5)] == ["a", "b"]
    # RRF: an example both lists rank well beats one only a single list ranks first
    fused = rrf(
        [
            [Hit(1, 9.0, "observation", "o"), Hit(2, 8.0, "observation", "o")],
            [Hit(3, 0.9, "model", "m"), Hit(2, 0.8, "model", "m")],
        ]
    )
    assert [h.idx for h in fused] == [2, 1, 3]
    assert fused[0].strategy == "observation+model"
