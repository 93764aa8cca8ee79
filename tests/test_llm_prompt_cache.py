"""Prompt caching: breakpoints planned from the stable head of consecutive requests, sent as
Anthropic `cache_control` blocks (recorded by the loopback server), OpenAI's
`prompt_cache_key`, and cache tokens from both providers' usage priced at cache prices."""

from __future__ import annotations

import threading

import pytest
from llm_servers import AnthropicStubServer, OpenAIStubServer, StubReply, clear_llm_env

from lbi_icl.llm import GenerationParams, Message, make_llm
from lbi_icl.llm.base import Usage
from lbi_icl.llm.pricing import cost_usd, price_for, register_price
from lbi_icl.llm.prompt_cache import Breakpoint, PrefixTracker, prompt_cache_key, split_at

CC = {"type": "ephemeral"}
SYSTEM = "You act in a grid world.\nAnswer with one action."
HEAD = "## Objective\ngo to the red ball\n\n## Interaction history\n"


def _user(step: int) -> str:
    history = "".join(f"Step {i}: turn left\n" for i in range(step))
    return f"{HEAD}{history}\n## Current observation\nyou see {step} walls\n"


@pytest.fixture(autouse=True)
def _no_real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


# --- the planner -------------------------------------------------------------------------
def test_planner_marks_what_consecutive_requests_share() -> None:
    t = PrefixTracker()
    first = t.plan(SYSTEM, [_user(0)])
    assert first.system and first.points == ()  # nothing to compare with yet
    second = t.plan(SYSTEM, [_user(1)])
    # shared with step 0: the head up to the end of its last whole line
    assert second.points == (Breakpoint(0, len(HEAD)),)
    third = t.plan(SYSTEM, [_user(2)])
    # the head again (a cache read) and the longer shared part (history step 0: a write)
    assert third.points == (
        Breakpoint(0, len(HEAD)),
        Breakpoint(0, len(HEAD) + len("Step 0: turn left\n")),
    )
    assert third.count <= 4
    fourth = t.plan(SYSTEM, [_user(3)])
    # the head is cut where it was before (all three cuts), two of them marked
    line = len("Step 0: turn left\n")
    assert fourth.cuts == (
        Breakpoint(0, len(HEAD)),
        Breakpoint(0, len(HEAD) + line),
        Breakpoint(0, len(HEAD) + 2 * line),
    )
    assert fourth.points == fourth.cuts[1:]


def test_planner_marks_only_the_system_when_nothing_else_is_shared() -> None:
    t = PrefixTracker()
    t.plan(SYSTEM, ["alpha beta\nsomething"])
    assert t.plan(SYSTEM, ["gamma\nother"]).points == ()
    # another system prompt (the query writer's) has its own memory
    t.plan("other system", ["x\ny"])
    assert t.plan(SYSTEM, ["gamma\nother two"]).points == (Breakpoint(0, len("gamma\n")),)


def test_planner_memory_is_per_thread() -> None:
    t = PrefixTracker()
    t.plan(SYSTEM, [_user(0)])
    out: list[object] = []
    th = threading.Thread(target=lambda: out.append(t.plan(SYSTEM, [_user(1)])))
    th.start()
    th.join()
    assert out[0].points == ()  # type: ignore[attr-defined]


def test_split_at() -> None:
    assert split_at("abcdef", [2, 6]) == ["ab", "cdef"]
    assert split_at("abc", []) == ["abc"]


# --- Anthropic: the breakpoints on the wire ----------------------------------------------
def test_anthropic_requests_carry_the_breakpoints() -> None:
    with AnthropicStubServer(["Action: turn left"]) as srv:
        llm = make_llm("anthropic:claude-sonnet-4", base_url=srv.base_url)
        for step in range(3):
            llm.complete(
                [Message(role="system", content=SYSTEM), Message(role="user", content=_user(step))]
            )
        bodies = srv.requests
    for body in bodies:
        assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": CC}]
    assert bodies[0]["messages"][0]["content"] == _user(0)
    blocks = bodies[1]["messages"][0]["content"]
    assert blocks == [
        {"type": "text", "text": HEAD, "cache_control": CC},
        {"type": "text", "text": _user(1)[len(HEAD) :]},
    ]
    blocks = bodies[2]["messages"][0]["content"]
    assert "".join(b["text"] for b in blocks) == _user(2)  # the text is unchanged
    assert [("cache_control" in b) for b in blocks] == [True, True, False]
    assert blocks[0]["text"] == HEAD


def test_anthropic_cache_prompt_off_sends_no_breakpoint() -> None:
    with AnthropicStubServer(["ok"]) as srv:
        llm = make_llm("anthropic:claude-sonnet-4", base_url=srv.base_url, cache_prompt="off")
        for step in range(2):
            llm.complete(
                [Message(role="system", content=SYSTEM), Message(role="user", content=_user(step))]
            )
        bodies = srv.requests
    assert all(b["system"] == SYSTEM for b in bodies)
    assert [b["messages"][0]["content"] for b in bodies] == [_user(0), _user(1)]
    assert "cache_control" not in str(bodies)


def test_anthropic_breakpoints_keep_images_after_the_text() -> None:
    from lbi_icl.llm.base import ImagePart

    png = ImagePart(data=b"\x89PNG fake")
    with AnthropicStubServer(["ok"]) as srv:
        llm = make_llm("anthropic:claude-sonnet-4", base_url=srv.base_url)
        for step in range(2):
            llm.complete([Message(role="user", content=_user(step), images=(png,))])
        body = srv.requests[1]
    blocks = body["messages"][0]["content"]
    assert [b["type"] for b in blocks] == ["text", "text", "image"]
    assert blocks[0] == {"type": "text", "text": HEAD, "cache_control": CC}
    assert "system" not in body


def test_a_retried_request_is_sent_unchanged() -> None:
    with AnthropicStubServer([StubReply(status=529), "ok"]) as srv:
        llm = make_llm("anthropic:claude-sonnet-4", base_url=srv.base_url, backoff_base_s=0.001)
        llm.complete(
            [Message(role="system", content=SYSTEM), Message(role="user", content=_user(0))]
        )
        assert srv.requests[0] == srv.requests[1]


# --- usage and price ---------------------------------------------------------------------
def test_anthropic_cache_usage_is_parsed_and_priced() -> None:
    reply = StubReply(
        text="ok",
        input_tokens=2000,
        output_tokens=10,
        cache_read_tokens=1500,
        cache_write_tokens=300,
    )
    with AnthropicStubServer([reply]) as srv:
        llm = make_llm("anthropic:claude-sonnet-4-20250514", base_url=srv.base_url)
        resp = llm.complete([Message(role="user", content="hi")])
        # the server said input_tokens=200 (uncached) beside the two cache fields
        assert srv.requests[0]["model"] == "claude-sonnet-4-20250514"
    u = resp.usage
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.output_tokens) == (
        2000,
        1500,
        300,
        10,
    )
    # $3/M input, cache read 0.1x = $0.30/M, cache write 1.25x = $3.75/M, $15/M output
    expected = (200 * 3.0 + 1500 * 0.30 + 300 * 3.75 + 10 * 15.0) / 1e6
    assert resp.cost_usd == pytest.approx(expected)
    snap = llm.usage.snapshot()  # type: ignore[attr-defined]
    assert (snap.cache_read_tokens, snap.cache_write_tokens) == (1500, 300)


def test_openai_cached_tokens_are_parsed_and_priced() -> None:
    reply = StubReply(text="ok", input_tokens=2048, output_tokens=20, cache_read_tokens=1024)
    with OpenAIStubServer([reply]) as srv:
        llm = make_llm("openai:gpt-4o-2024-08-06", base_url=srv.base_url)
        resp = llm.complete(
            [Message(role="system", content=SYSTEM), Message(role="user", content="hi")]
        )
        body = srv.requests[0]
    u = resp.usage
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (2048, 1024, 0)
    # $2.50/M input, $1.25/M cached input, $10/M output
    assert resp.cost_usd == pytest.approx((1024 * 2.5 + 1024 * 1.25 + 20 * 10.0) / 1e6)
    # a loopback server is not OpenAI's API: no prompt_cache_key with cache_prompt="auto"
    assert "prompt_cache_key" not in body


def test_openai_prompt_cache_key_on_and_off() -> None:
    with OpenAIStubServer(["ok"]) as srv:
        msgs = [Message(role="system", content=SYSTEM), Message(role="user", content="hi")]
        make_llm("openai:gpt-4o", base_url=srv.base_url, cache_prompt="on").complete(msgs)
        make_llm("openai:gpt-4o", base_url=srv.base_url, cache_prompt="off").complete(
            msgs, GenerationParams(max_tokens=5)
        )
        on, off = srv.requests
    assert on["prompt_cache_key"] == prompt_cache_key("gpt-4o", SYSTEM)
    assert SYSTEM not in on["prompt_cache_key"]
    assert "prompt_cache_key" not in off
    assert on["messages"][0] == {"role": "system", "content": SYSTEM}  # never blocks


def test_cache_prices_in_the_table() -> None:
    sonnet = price_for("claude-sonnet-4")
    assert sonnet is not None
    assert sonnet.read_per_m() == pytest.approx(0.1 * sonnet.input_per_m)
    assert sonnet.write_per_m() == pytest.approx(1.25 * sonnet.input_per_m)
    mini = price_for("gpt-4o-mini")
    assert mini is not None and mini.read_per_m() == pytest.approx(0.075)
    assert mini.write_per_m() == mini.input_per_m  # OpenAI charges no write surcharge
    turbo = price_for("gpt-4-turbo")
    assert turbo is not None and turbo.read_per_m() == turbo.input_per_m  # no cached price


def test_cost_without_cache_is_unchanged_and_register_price_takes_cache_prices() -> None:
    plain = Usage(input_tokens=1000, output_tokens=100)
    assert cost_usd("gpt-4o", plain) == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    register_price("my-model", input_per_m=1.0, output_per_m=2.0, cache_read_per_m=0.5)
    u = Usage(input_tokens=1000, output_tokens=0, cache_read_tokens=400, cache_write_tokens=100)
    assert cost_usd("my-model", u) == pytest.approx((500 * 1.0 + 400 * 0.5 + 100 * 1.0) / 1e6)
    with pytest.raises(ValueError):
        register_price("bad", input_per_m=1.0, output_per_m=1.0, cache_read_per_m=-1)


def test_describe_names_the_cache_and_rate_settings() -> None:
    with OpenAIStubServer(["ok"]) as srv:
        llm = make_llm(
            "openai:gpt-4o", base_url=srv.base_url, cache_prompt="off", rpm=600, rate_share=0.5
        )
        info = llm.describe()  # type: ignore[attr-defined]
    assert (info.cache_prompt, info.rpm, info.tpm) == ("off", 300, None)
