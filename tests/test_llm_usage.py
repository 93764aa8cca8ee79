"""Usage accounting across threads, None-aware cost sums, and the price table."""

from __future__ import annotations

import threading

import pytest
from llm_servers import OpenAIStubServer, StubReply, clear_llm_env

from lbi_icl.llm import (
    LLMResponse,
    Message,
    Usage,
    UsageTotals,
    cost_usd,
    make_llm,
    price_for,
    pricing,
)
from lbi_icl.llm.pricing import register_price


@pytest.fixture(autouse=True)
def _no_real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def _resp(tin: int, tout: int, cost: float | None, *, cached: bool = False, model: str = "m"):
    return LLMResponse(
        text="x",
        usage=Usage(input_tokens=tin, output_tokens=tout),
        cost_usd=cost,
        latency_s=0.5,
        cached=cached,
        model=model,
        backend="openai",
    )


def test_eight_threads_through_the_sdk_sum_exactly() -> None:
    reply = StubReply(text="ok", input_tokens=7, output_tokens=3)
    per_thread = 8
    with OpenAIStubServer([reply]) as srv:
        llm = make_llm("openai:gpt-4o-mini", base_url=srv.base_url, max_concurrency=4)
        shared = UsageTotals()

        def work(t: int) -> None:
            for i in range(per_thread):
                shared.add(llm.complete([Message(role="user", content=f"t{t} i{i}")]))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(srv.requests) == 8 * per_thread
    price = price_for("gpt-4o-mini")
    assert price is not None
    n = 8 * per_thread
    for snap in (shared.snapshot(), llm.usage.snapshot()):
        assert (snap.calls, snap.api_calls, snap.cache_hits) == (n, n, 0)
        assert (snap.input_tokens, snap.output_tokens) == (7 * n, 3 * n)
        expected = n * (7 * price.input_per_m + 3 * price.output_per_m) / 1e6
        assert snap.cost_usd == pytest.approx(expected, rel=1e-9)
        assert snap.by_model["openai:gpt-4o-mini"].calls == n


def test_many_threads_add_without_losing_updates() -> None:
    totals = UsageTotals()
    r = _resp(3, 2, 0.001)

    def work() -> None:
        for _ in range(2000):
            totals.add(r)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = totals.snapshot()
    assert (snap.calls, snap.input_tokens, snap.output_tokens) == (16000, 48000, 32000)
    assert snap.cost_usd == pytest.approx(16.0)


def test_cost_sums_are_none_aware_and_hits_are_free() -> None:
    totals = UsageTotals()
    totals.add(_resp(100, 10, 0.5, model="a"))
    totals.add(_resp(100, 10, 0.0, cached=True, model="a"))
    snap = totals.snapshot()
    assert snap.cost_usd == pytest.approx(0.5)
    assert (snap.calls, snap.cache_hits, snap.input_tokens) == (2, 1, 100)
    totals.add(_resp(5, 5, None, model="b"))  # unknown price
    snap = totals.snapshot()
    assert snap.cost_usd is None  # never silently low
    assert snap.known_cost_usd == pytest.approx(0.5)
    assert snap.unpriced_calls == 1
    assert snap.by_model["openai:a"].cost_usd == pytest.approx(0.5)
    assert snap.by_model["openai:b"].cost_usd is None
    dumped = snap.model_dump(mode="json")
    assert dumped["cost_usd"] is None and dumped["mean_latency_s"] == pytest.approx(0.5)
    totals.reset()
    assert totals.snapshot().calls == 0


def test_price_table_variants_and_unknown_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pricing, "_PRICES", dict(pricing._PRICES))  # registering stays local
    assert price_for("gpt-4o-2024-08-06") == price_for("gpt-4o")
    assert price_for("claude-3-5-haiku-latest") == price_for("claude-3-5-haiku")
    assert price_for("claude-3-5-sonnet-20241022") == price_for("claude-3-5-sonnet")
    assert price_for("gpt-4o-mini") != price_for("gpt-4o")
    assert price_for("openai/gpt-4o-mini") == price_for("gpt-4o-mini")
    assert price_for("my-local-llama") is None
    assert cost_usd("my-local-llama", Usage(input_tokens=10**6, output_tokens=1)) is None
    register_price("my-local-llama", input_per_m=1.0, output_per_m=2.0)
    assert cost_usd("my-local-llama", Usage(input_tokens=10**6, output_tokens=5 * 10**5)) == 2.0
    with pytest.raises(ValueError):
        register_price("x", input_per_m=-1, output_per_m=0)


def test_unknown_model_through_the_sdk_costs_none() -> None:
    with OpenAIStubServer(["hi"]) as srv:
        resp = make_llm("openai:some-unlisted-model", base_url=srv.base_url).complete(
            [Message(role="user", content="hello")]
        )
    assert resp.cost_usd is None
    assert resp.usage.input_tokens == 1
