"""The SQLite response cache: hits, modes, threads and processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from llm_servers import OpenAIStubServer, StubReply, clear_llm_env

from lbi_icl.llm import (
    CacheMissError,
    GenerationParams,
    LLMConfigError,
    Message,
    ResponseCache,
    cache_key,
    make_llm,
)
from lbi_icl.llm.base import Usage
from lbi_icl.llm.cache import CachedResponse

USER = [Message(role="user", content="what is two plus two")]


@pytest.fixture(autouse=True)
def _no_real_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def test_rw_hit_is_free_and_counted(tmp_path: Path) -> None:
    reply = StubReply(text="four", input_tokens=10, output_tokens=1)
    with OpenAIStubServer([reply, "a different answer"]) as srv:
        llm = make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=tmp_path / "c.db")
        first = llm.complete(USER)
        second = llm.complete(USER)
        assert len(srv.requests) == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text == "four"
    assert second.cost_usd == 0.0 and first.cost_usd is not None and first.cost_usd > 0
    snap = llm.usage.snapshot()
    assert (snap.calls, snap.api_calls, snap.cache_hits) == (2, 1, 1)
    assert (snap.input_tokens, snap.output_tokens) == (10, 1)  # the hit adds no tokens
    assert snap.cost_usd == pytest.approx(first.cost_usd)


def test_key_covers_params_model_and_backend(tmp_path: Path) -> None:
    with OpenAIStubServer(["x"]) as srv:
        llm = make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=tmp_path / "c.db")
        llm.complete(USER)
        llm.complete(USER, GenerationParams(seed=1))
        llm.complete(USER, GenerationParams(temperature=0.7))
        llm.complete([Message(role="system", content="s"), *USER])
        other = make_llm("openai:gpt-4o-mini", base_url=srv.base_url, cache_path=tmp_path / "c.db")
        other.complete(USER)
        assert len(srv.requests) == 5
    p = GenerationParams()
    keys = {
        cache_key("openai", "m", USER, p),
        cache_key("anthropic", "m", USER, p),
        cache_key("openai", "m2", USER, p),
        cache_key("openai", "m", USER, GenerationParams(stop=("x",))),
    }
    assert len(keys) == 4
    assert cache_key("openai", "m", USER, p) == cache_key("openai", "m", list(USER), p)


def test_cache_persists_and_replays_without_key_or_server(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with OpenAIStubServer(["recorded"]) as srv:
        make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=db).complete(USER)
        url = srv.base_url
    # Server gone and no key: replay still answers what was recorded...
    replay = make_llm("openai:gpt-4o", base_url=url, cache_path=db, cache_mode="replay")
    hit = replay.complete(USER)
    assert (hit.text, hit.cached) == ("recorded", True)
    # ...and a request never seen is an error, not a network call.
    with pytest.raises(CacheMissError, match="replay"):
        replay.complete([Message(role="user", content="never asked")])
    assert replay.usage.snapshot().errors == 1


def test_replay_needs_an_existing_cache(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="does not exist"):
        make_llm("openai:gpt-4o", cache_path=tmp_path / "none.db", cache_mode="replay")
    with pytest.raises(LLMConfigError, match="cache_path"):
        make_llm("openai:gpt-4o", cache_mode="replay")
    with pytest.raises(LLMConfigError, match="cache_mode"):
        make_llm("openai:gpt-4o", cache_mode="sometimes")  # type: ignore[arg-type]


def test_off_mode_neither_reads_nor_writes(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with OpenAIStubServer(["a", "b"]) as srv:
        make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=db).complete(USER)
        off = make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=db, cache_mode="off")
        assert off.complete(USER).text == "b"
        assert not off.complete([Message(role="user", content="new")]).cached
        assert len(srv.requests) == 3
    assert len(ResponseCache(db)) == 1


def test_two_threads_same_request_one_call(tmp_path: Path) -> None:
    """Concurrent identical requests wait for the first and share its answer."""
    with OpenAIStubServer([StubReply(text="shared", delay_s=0.2)]) as srv:
        llm = make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=tmp_path / "c.db")
        out: list = [None, None]

        def work(i: int) -> None:
            out[i] = llm.complete(USER)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(srv.requests) == 1
    assert [r.text for r in out] == ["shared", "shared"]
    assert sorted(r.cached for r in out) == [False, True]


def test_threads_fill_one_cache_file(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    with OpenAIStubServer(lambda body: "answer to " + body["messages"][0]["content"]) as srv:
        llm = make_llm("openai:gpt-4o", base_url=srv.base_url, cache_path=db)

        def work(t: int) -> None:
            for i in range(6):
                llm.complete([Message(role="user", content=f"t{t} q{i}")])

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(srv.requests) == 24
    fresh = make_llm("openai:gpt-4o", cache_path=db, cache_mode="replay")
    assert fresh.complete([Message(role="user", content="t3 q5")]).text == "answer to t3 q5"
    assert len(ResponseCache(db)) == 24


_CHILD = """
import sys
from lbi_icl.llm.cache import CachedResponse, ResponseCache
from lbi_icl.llm.base import Usage
c = ResponseCache(sys.argv[1])
for i in range(100):
    c.put(f"child-{i}", "{}", CachedResponse(text=str(i), usage=Usage(), cost_usd=None,
          latency_s=0.0, backend="openai", model="m"))
"""


def test_two_processes_write_one_cache(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    cache = ResponseCache(db)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db)])
    entry = CachedResponse(
        text="p", usage=Usage(), cost_usd=None, latency_s=0.0, backend="openai", model="m"
    )
    for i in range(100):
        cache.put(f"parent-{i}", "{}", entry)
    assert child.wait(timeout=60) == 0
    assert len(cache) == 200
    hit = cache.get("child-99")
    assert hit is not None and hit.text == "99"
    journal = cache._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"
    cache.close()


def test_first_answer_for_a_key_wins(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.db")
    mk = lambda t: CachedResponse(  # noqa: E731
        text=t, usage=Usage(), cost_usd=None, latency_s=0.0, backend="openai", model="m"
    )
    cache.put("k", "{}", mk("first"))
    cache.put("k", "{}", mk("second"))
    hit = cache.get("k")
    assert hit is not None and hit.text == "first"


def test_not_a_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.db"
    bad.write_text("this is not sqlite at all, just text" * 100)
    with pytest.raises(LLMConfigError, match="not a usable LLM cache"):
        ResponseCache(bad)


def _child_put(cache: ResponseCache) -> None:
    cache.put(
        "from-child",
        "{}",
        CachedResponse(
            text="c", usage=Usage(), cost_usd=None, latency_s=0.0, backend="openai", model="m"
        ),
    )


@pytest.mark.skipif(sys.platform == "win32", reason="fork start method")
def test_forked_worker_opens_its_own_connection(tmp_path: Path) -> None:
    import multiprocessing

    cache = ResponseCache(tmp_path / "c.db")
    assert cache.get("nothing") is None  # parent connection exists before the fork
    proc = multiprocessing.get_context("fork").Process(target=_child_put, args=(cache,))
    proc.start()
    proc.join(timeout=30)
    assert proc.exitcode == 0
    hit = cache.get("from-child")
    assert hit is not None and hit.text == "c"
    cache.close()
