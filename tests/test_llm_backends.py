"""The real openai / anthropic SDK clients, driven by lbi_icl.llm, against loopback stubs."""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time

import pytest
from llm_servers import AnthropicStubServer, OpenAIStubServer, StubReply, clear_llm_env

from lbi_icl.llm import (
    LLM,
    GenerationParams,
    LLMAuthError,
    LLMConfigError,
    LLMRequestError,
    LLMUnavailableError,
    Message,
    describe_llm,
    make_llm,
    price_for,
)

FAST = {"backoff_base_s": 0.001, "backoff_max_s": 0.01}
SERVERS = {"openai": OpenAIStubServer, "anthropic": AnthropicStubServer}
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}
USER = [Message(role="user", content="say hello please")]


@pytest.fixture(autouse=True)
def _no_real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def _llm(backend: str, srv: OpenAIStubServer | AnthropicStubServer, **kw: object) -> LLM:
    return make_llm(f"{backend}:{MODELS[backend]}", base_url=srv.base_url, **{**FAST, **kw})


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize(
    "reply",
    [
        StubReply(
            raw_body=b"<html><body>502 from the gateway</body></html>", content_type="text/html"
        ),
        StubReply(raw_body=b'{"id": "x", "choi', content_type="application/json"),
        StubReply(raw_body=b"<html>oops</html>", content_type="application/json"),
    ],
    ids=["html-page", "json-cut-short", "html-as-json"],
)
def test_a_200_that_is_no_answer_is_a_provider_failure(monkeypatch, backend, reply) -> None:
    """Retried like any transient failure, then an LLMUnavailableError (an infrastructure
    error of the episode), never a raw SDK exception or an empty answer."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-t")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-t")
    with SERVERS[backend]([reply]) as srv:
        with pytest.raises(LLMUnavailableError, match="bad_response") as e:
            _llm(backend, srv, max_retries=2).complete(USER)
        assert e.value.reason == "bad_response" and len(srv.requests) == 3


def test_empty_choices_and_lone_surrogates(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-t")
    empty = json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                        "choices": []}).encode()  # fmt: skip
    with (
        OpenAIStubServer([StubReply(raw_body=empty)]) as srv,
        pytest.raises(LLMUnavailableError, match="empty `choices`"),
    ):
        _llm("openai", srv, max_retries=0).complete(USER)
    for backend in ("openai", "anthropic"):
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-t")
        with SERVERS[backend]([StubReply(text="Action: go\ud800 on")]) as srv:
            text = _llm(backend, srv).complete(USER).text
        assert text == "Action: go\ufffd on"


def test_openai_success_wire_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-key")
    reply = StubReply(text="hello there", input_tokens=11, output_tokens=2)
    with OpenAIStubServer([reply]) as srv:
        llm = _llm("openai", srv)
        assert isinstance(llm, LLM)
        params = GenerationParams(temperature=0.3, max_tokens=17, stop=("\n",), seed=5)
        msgs = [Message(role="system", content="be brief"), *USER]
        resp = llm.complete(msgs, params)
        body = srv.requests[0]
        headers = srv.request_headers[0]
    assert resp.text == "hello there"
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (11, 2)
    price = price_for("gpt-4o-mini")
    assert price is not None
    assert resp.cost_usd == pytest.approx((11 * price.input_per_m + 2 * price.output_per_m) / 1e6)
    assert (resp.backend, resp.model, resp.cached, resp.retries) == (
        "openai",
        "gpt-4o-mini",
        False,
        0,
    )
    assert resp.latency_s > 0
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hello please"},
    ]
    assert (body["temperature"], body["max_tokens"], body["stop"], body["seed"]) == (
        0.3,
        17,
        ["\n"],
        5,
    )
    assert headers["authorization"] == "Bearer sk-test-openai-key"


def test_anthropic_success_system_goes_top_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    reply = StubReply(text="hi!", input_tokens=9, output_tokens=1)
    with AnthropicStubServer([reply]) as srv:
        llm = _llm("anthropic", srv)
        msgs = [
            Message(role="system", content="rule one"),
            Message(role="system", content="rule two"),
            *USER,
        ]
        resp = llm.complete(msgs, GenerationParams(max_tokens=33, stop=("END",)))
        body = srv.requests[0]
        headers = srv.request_headers[0]
    assert resp.text == "hi!"
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (9, 1)
    assert resp.cost_usd is not None and resp.cost_usd > 0
    # the system text ends in a prompt-cache breakpoint (cache_prompt="auto")
    assert body["system"] == [
        {"type": "text", "text": "rule one\n\nrule two", "cache_control": {"type": "ephemeral"}}
    ]
    assert body["messages"] == [{"role": "user", "content": "say hello please"}]
    assert body["max_tokens"] == 33
    assert body["stop_sequences"] == ["END"]
    assert "sk-ant-test-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_429_then_success_is_retried(backend: str) -> None:
    with SERVERS[backend]([StubReply(status=429), "finally"]) as srv:
        llm = _llm(backend, srv)
        resp = llm.complete(USER)
        assert len(srv.requests) == 2
    assert resp.text == "finally"
    assert resp.retries == 1
    snap = llm.usage.snapshot()
    assert (snap.calls, snap.api_calls, snap.retries, snap.errors) == (1, 1, 1, 0)


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried(backend: str, status: int) -> None:
    with SERVERS[backend]([status, "never reached"]) as srv:
        llm = _llm(backend, srv)
        with pytest.raises(LLMAuthError) as err:
            llm.complete(USER)
        assert len(srv.requests) == 1
    assert err.value.status == status
    env = "OPENAI_API_KEY" if backend == "openai" else "ANTHROPIC_API_KEY"
    assert env in str(err.value)
    assert llm.usage.snapshot().errors == 1


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_5xx_retried_then_success(backend: str) -> None:
    with SERVERS[backend]([500, 503, "ok after two"]) as srv:
        resp = _llm(backend, srv).complete(USER)
        assert len(srv.requests) == 3
    assert (resp.text, resp.retries) == ("ok after two", 2)


def test_5xx_gives_up_after_max_retries() -> None:
    with OpenAIStubServer([500]) as srv:
        llm = _llm("openai", srv, max_retries=2)
        with pytest.raises(LLMUnavailableError) as err:
            llm.complete(USER)
        assert len(srv.requests) == 3
    assert (err.value.reason, err.value.attempts, err.value.status) == ("server_error", 3, 500)


def test_bad_request_is_not_retried() -> None:
    with OpenAIStubServer([StubReply(status=400, error_message="bad field")]) as srv:
        with pytest.raises(LLMRequestError, match="bad field"):
            _llm("openai", srv).complete(USER)
        assert len(srv.requests) == 1


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_timeout_is_retried_then_reported(backend: str) -> None:
    # the server's delay (30 s; shutdown wakes it) is far above any loaded machine's
    # client overhead, so the bound below separates "timed out" from "waited it out"
    slow = StubReply(text="too late", delay_s=30)
    with SERVERS[backend]([slow, "in time"]) as srv:
        # spare retries so a loaded CI machine cannot turn the quick answer into a flake
        resp = _llm(backend, srv, timeout_s=0.3, max_retries=3).complete(USER)
        assert resp.text == "in time" and resp.retries >= 1
        assert srv.requests[0] == srv.requests[1]  # the same request, sent again
    with SERVERS[backend]([slow]) as srv:
        t0 = time.perf_counter()
        with pytest.raises(LLMUnavailableError) as err:
            _llm(backend, srv, timeout_s=0.2, max_retries=0).complete(USER)
        assert time.perf_counter() - t0 < 15  # the per-call timeout, not the server's delay
    assert (err.value.reason, err.value.attempts) == ("timeout", 1)


def test_retry_after_header_is_honoured() -> None:
    limited = StubReply(status=429, headers={"Retry-After": "0.25"})
    with OpenAIStubServer([limited, "ok"]) as srv:
        t0 = time.perf_counter()
        _llm("openai", srv, backoff_max_s=5).complete(USER)
        assert time.perf_counter() - t0 >= 0.25


def test_concurrency_limit_shared_by_threads() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow_reply(body: dict) -> str:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return "ok"

    with OpenAIStubServer(slow_reply) as srv:
        llm = _llm("openai", srv, max_concurrency=2)
        threads = [
            threading.Thread(target=llm.complete, args=([Message(role="user", content=f"q{i}")],))
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(srv.requests) == 6
    assert state["peak"] == 2


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(LLMConfigError, match="OPENAI_API_KEY"):
        make_llm("openai:gpt-4o", base_url="https://api.example.invalid/v1")
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY"):
        make_llm("anthropic:claude-3-5-haiku-latest")


def test_loopback_server_needs_no_key() -> None:
    with OpenAIStubServer(["local answer"]) as srv:
        resp = make_llm("openai:llama3:8b", base_url=srv.base_url).complete(USER)
        assert srv.requests[0]["model"] == "llama3:8b"  # only the first ':' splits the spec
        assert srv.request_headers[0]["authorization"] == "Bearer lbi-local-no-key"
    assert resp.text == "local answer"
    assert resp.cost_usd is None  # unknown model: no price, no crash


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenAIStubServer(["via env"]) as srv:
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        assert make_llm("openai:gpt-4o").complete(USER).text == "via env"
        assert len(srv.requests) == 1


def test_missing_usage_means_unknown_cost() -> None:
    with OpenAIStubServer([StubReply(text="x", omit_usage=True)]) as srv:
        resp = _llm("openai", srv).complete(USER)
    assert resp.cost_usd is None
    assert resp.usage.input_tokens == 0


def test_dict_messages_accepted_and_bad_ones_rejected() -> None:
    with OpenAIStubServer(["ok"]) as srv:
        llm = _llm("openai", srv)
        assert llm.complete([{"role": "user", "content": "hi"}]).text == "ok"
        with pytest.raises(LLMRequestError, match=r"messages\[0\]"):
            llm.complete([{"role": "robot", "content": "hi"}])
        with pytest.raises(LLMRequestError, match="empty"):
            llm.complete([])
        assert len(srv.requests) == 1


def test_keys_never_written(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    secret_oa, secret_an = "sk-SECRET-openai-0123456789", "sk-ant-SECRET-9876543210"
    monkeypatch.setenv("OPENAI_API_KEY", secret_oa)
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret_an)
    caplog.set_level(logging.DEBUG)
    cache = tmp_path / "cache.sqlite"
    leaked_in: list[str] = []
    echo_key = StubReply(status=401, error_message=f"Incorrect API key provided: {secret_oa}")
    with OpenAIStubServer([StubReply(status=429), "a", echo_key]) as oa:
        llm = make_llm("openai:gpt-4o", base_url=oa.base_url, cache_path=cache, **FAST)
        llm.complete(USER)
        with pytest.raises(LLMAuthError) as err:
            llm.complete([Message(role="user", content="second")])
        texts = {
            "error": str(err.value),
            "describe": llm.describe().model_dump_json(),
            "repr": repr(llm),
            "usage": llm.usage.snapshot().model_dump_json(),
        }
        llm.close()
    with AnthropicStubServer(["b"]) as an:
        llm2 = make_llm("anthropic:claude-3-5-haiku-latest", base_url=an.base_url, cache_path=cache)
        llm2.complete(USER)
        texts["describe2"] = llm2.describe().model_dump_json()
        texts["repr2"] = repr(llm2)
        llm2.close()
    texts["logs"] = caplog.text
    for name, text in texts.items():
        if secret_oa in text or secret_an in text:
            leaked_in.append(name)
    for f in tmp_path.iterdir():  # the cache and its WAL/SHM side files
        data = f.read_bytes()
        if secret_oa.encode() in data or secret_an.encode() in data:
            leaked_in.append(f.name)
    assert leaked_in == []
    assert "***" in texts["error"]


def test_describe_strips_credentials_from_base_url() -> None:
    llm = make_llm("openai:m", base_url="http://user:pw@127.0.0.1:9/v1?api-key=zzz")
    info = llm.describe()
    assert info.base_url == "http://127.0.0.1:9/v1"
    assert "pw" not in info.model_dump_json() and "zzz" not in info.model_dump_json()


def test_pickles_as_config_without_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    secret = "sk-SECRET-pickle-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with OpenAIStubServer(["first", "second"]) as srv:
        llm = _llm("openai", srv, cache_path=tmp_path / "c.db", max_concurrency=3)
        llm.complete(USER)
        blob = pickle.dumps(llm)
        assert secret.encode() not in blob
        clone = pickle.loads(blob)
        assert clone.describe() == llm.describe()
        assert clone.complete(USER).cached  # same cache file
        assert clone.complete([Message(role="user", content="new")]).text == "second"
        assert srv.request_headers[-1]["authorization"] == f"Bearer {secret}"  # re-read env


def test_describe_llm_for_any_llm() -> None:
    class Fake:
        spec = "fake:thing"

        def complete(self, messages, params=None):  # pragma: no cover - never called
            raise NotImplementedError

    info = describe_llm(Fake())
    assert (info.backend, info.model) == ("fake", "thing")
    with OpenAIStubServer(["x"]) as srv:
        assert describe_llm(_llm("openai", srv)).base_url == srv.base_url


def test_stub_server_exhaustion_and_callables() -> None:
    with OpenAIStubServer(["only"], repeat_last=False) as srv:
        llm = _llm("openai", srv, max_retries=0)
        assert llm.complete(USER).text == "only"
        with pytest.raises(LLMUnavailableError, match="stub exhausted"):
            llm.complete(USER)
    seen: list[str] = []

    def by_body(body: dict) -> str:
        seen.append(body["model"])
        return body["messages"][-1]["content"][::-1]

    with AnthropicStubServer(by_body) as srv:
        assert _llm("anthropic", srv).complete(USER).text == "esaelp olleh yas"
    assert seen == ["claude-3-5-haiku-latest"]
    with pytest.raises(ValueError):
        OpenAIStubServer([])
