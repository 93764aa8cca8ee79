"""The LLM-free template query keeps the first `template_observation_words` words of the
observation (default 48, documented), so embedding it stays cheap; None restores it all."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbi_icl.data import Step
from lbi_icl.embed import HashEmbedder
from lbi_icl.index import build_index, load_index
from lbi_icl.index.load import ExampleIndex
from lbi_icl.retrieval import RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.model import first_words, template_query
from lbi_icl.retrieval.render import render_reference

FIX = Path(__file__).parent / "fixtures" / "retrieval"
# a long observation: the door sentence first, then 60 words of clutter
LONG_OBS = "The red door is right in front of you.\nIt is closed. " + " ".join(
    f"pebble{i}" for i in range(60)
)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> ExampleIndex:
    out = tmp_path_factory.mktemp("tidx") / "toy"
    build_index([FIX / "trajectories.jsonl"], out, embedder=HashEmbedder(64))
    return load_index(out)


def _ctx(observation: str) -> StepContext:
    return StepContext(
        instruction="open the red door",
        observation=observation,
        history=[Step(observation="o", action="go forward")],
        env="toy",
        task_id="x/1",
    )


def test_first_words_keeps_text_up_to_the_nth_word() -> None:
    text = "  one two\nthree   four, five "
    assert first_words(text, 1) == "  one"
    assert first_words(text, 3) == "  one two\nthree"
    assert first_words(text, 5) == "  one two\nthree   four, five"
    assert first_words(text, 50) == text
    assert first_words(text, None) == text
    assert first_words("", 3) == ""


def test_template_query_cap() -> None:
    c = _ctx(LONG_OBS)
    head = "open the red door\nLast action: go forward\nObservation: "
    assert template_query(c) == head + LONG_OBS  # no cap unless asked
    capped = template_query(c, 48)
    assert capped == head + " ".join(LONG_OBS.split()[:48]).replace("you. It", "you.\nIt")
    assert len(capped.split("Observation: ", 1)[1].split()) == 48
    assert RetrievalConfig().template_observation_words == 48
    with pytest.raises(ValueError):
        RetrievalConfig(template_observation_words=0)


@pytest.mark.parametrize("strategy", ["model", "agentic"])
def test_strategies_use_the_configured_cap(index: ExampleIndex, strategy: str) -> None:
    c = _ctx(LONG_OBS)
    res = make_retriever(strategy, index).retrieve(c)
    assert res.queries["model"] == template_query(c, 48)
    assert res.queries["query_writer"] == "template"
    full = make_retriever(strategy, index, RetrievalConfig(template_observation_words=None))
    assert full.retrieve(c).queries["model"] == template_query(c)
    short = make_retriever(strategy, index, RetrievalConfig(template_observation_words=9))
    res9 = short.retrieve(c)
    assert res9.queries["model"].endswith("Observation: The red door is right in front of you.")
    if strategy == "model":
        # the kept words still find the door example (the clutter never could)
        assert res9.items[0].id in ("ex-door", "ex-door-green")


class _SlowEmbedder:
    """HashEmbedder's vectors under another class (so agentic prefetches), recording which
    thread embedded each text."""

    def __init__(self) -> None:
        self._inner = HashEmbedder(64)
        self.id, self.dim = self._inner.id, self._inner.dim
        self.threads: dict[str, str] = {}

    def embed(self, texts):  # type: ignore[no-untyped-def]
        import threading

        for t in texts:
            self.threads[t] = threading.current_thread().name
        return self._inner.embed(texts)


@pytest.mark.parametrize("fusion", ["none", "rrf"])
def test_agentic_prefetches_the_template_embedding(index: ExampleIndex, fusion: str) -> None:
    from lbi_icl.llm import ScriptedLLM

    slow = _SlowEmbedder()
    fast_index = load_index(index.path, embedder=HashEmbedder(64))
    slow_index = load_index(index.path, embedder=slow)
    cfg = RetrievalConfig(fusion=fusion)  # type: ignore[arg-type]
    for obs in (LONG_OBS, "You carry the empty pot. The sink is here."):
        c = _ctx(obs)
        want = make_retriever("agentic", fast_index, cfg).retrieve(c)
        got = make_retriever("agentic", slow_index, cfg).retrieve(c)
        assert [(it.id, it.score, it.strategy) for it in got.items] == [
            (it.id, it.score, it.strategy) for it in want.items
        ]
        assert render_reference(got.items) == render_reference(want.items)
        # embedded once, on the prefetch thread, and reused by the model part
        assert slow.threads[template_query(c, 48)].startswith("lbi-query-embed")
    # an LLM-written query is not known in advance: embedded on the caller's thread
    llm = ScriptedLLM(["red door opening"], name="q")
    make_retriever("agentic", slow_index, cfg).retrieve(_ctx(LONG_OBS), llm)
    assert not slow.threads["red door opening"].startswith("lbi-query-embed")
