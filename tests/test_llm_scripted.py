"""`scripted:` LLMs: deterministic, offline, clearly labelled, and loud about bad scripts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lbi_icl.llm import (
    LLM,
    LLMConfigError,
    Message,
    ScriptedLLM,
    ScriptExhaustedError,
    make_llm,
    parse_spec,
)


def _u(text: str) -> list[Message]:
    return [Message(role="system", content="you are an agent"), Message(role="user", content=text)]


def _conversation(llm: LLM) -> list[str]:
    return [llm.complete(_u(q)).text for q in ["first", "the door is locked", "third", "step 7"]]


def test_jsonl_lines_end_at_newlines_only(tmp_path: Path) -> None:
    """U+2028 and friends inside a response are text (str.splitlines broke them apart)."""
    f = tmp_path / "s.jsonl"
    odd = "Reason: a\u2028b\u2029c\x85d\nAction: go"
    f.write_text(json.dumps(odd, ensure_ascii=False) + "\n" + json.dumps("second") + "\n")
    llm = make_llm(f"scripted:{f}")
    assert [llm.complete(_u(q)).text for q in "ab"] == [odd, "second"]


def test_json_list_replays_in_order_and_is_labelled(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps(["go north", "pick up key"]))
    llm = make_llm(f"scripted:{f}")
    assert isinstance(llm, LLM)
    r1, r2 = llm.complete(_u("a")), llm.complete(_u("b"))
    assert (r1.text, r2.text) == ("go north", "pick up key")
    for r in (r1, r2):
        assert (r.backend, r.offline, r.cost_usd, r.cached) == ("scripted", True, 0.0, False)
    info = llm.describe()
    assert info.offline and info.backend == "scripted" and info.spec == f"scripted:{f}"
    assert info.script_sha256 is not None and len(info.script_sha256) == 64
    snap = llm.usage.snapshot()
    assert (snap.offline_calls, snap.cost_usd) == (2, 0.0)
    with pytest.raises(ScriptExhaustedError, match="no scripted response left"):
        llm.complete(_u("c"))


_RULES = {
    "responses": ["one", "two"],
    "rules": [
        {"contains": "locked", "response": "toggle"},
        {"regex": r"step \d+", "in": "last", "response": ["s1", "s2"]},
    ],
    "default": "look",
}


@pytest.mark.parametrize("fmt", ["json", "yaml", "jsonl"])
def test_rules_and_formats_are_reproducible(tmp_path: Path, fmt: str) -> None:
    import yaml

    f = tmp_path / f"s.{fmt}"
    if fmt == "json":
        f.write_text(json.dumps(_RULES))
    elif fmt == "yaml":
        f.write_text(yaml.safe_dump(_RULES))
    else:
        lines = [json.dumps(x) for x in [*_RULES["responses"], *_RULES["rules"]]]
        f.write_text("\n".join(lines) + "\n")
    first = _conversation(make_llm(f"scripted:{f}"))
    second = _conversation(make_llm(f"scripted:{f}"))
    assert first == second == ["one", "toggle", "two", "s1"]


def test_default_cycle_and_repeat_last() -> None:
    d = ScriptedLLM(["a"], default="fallback")
    assert [d.complete(_u("x")).text for _ in range(3)] == ["a", "fallback", "fallback"]
    c = ScriptedLLM(["a", "b"], exhausted="cycle")
    assert [c.complete(_u("x")).text for _ in range(5)] == ["a", "b", "a", "b", "a"]
    r = ScriptedLLM(["a", "b"], exhausted="repeat_last")
    assert [r.complete(_u("x")).text for _ in range(4)] == ["a", "b", "b", "b"]
    r.reset()
    assert r.complete(_u("x")).text == "a"


def test_callable_and_in_code_rules() -> None:
    echo = ScriptedLLM(lambda msgs: msgs[-1].content.upper(), name="echo")
    assert echo.complete(_u("hi")).text == "HI"
    assert echo.spec == "scripted:echo"
    ruled = ScriptedLLM(rules=[{"contains": "key", "response": "pick up key"}], default="wait")
    assert ruled.complete(_u("a key lies here")).text == "pick up key"
    assert ruled.complete(_u("nothing")).text == "wait"
    with pytest.raises(LLMConfigError):
        ScriptedLLM("not a list")  # type: ignore[arg-type]


def test_rules_are_deterministic_under_threads() -> None:
    llm = ScriptedLLM(rules=[{"regex": r"q(\d)", "response": "matched"}], default="none")
    out: dict[str, str] = {}

    def work(i: int) -> None:
        q = f"q{i}" if i % 2 else f"x{i}"
        out[q] = llm.complete(_u(q)).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {
        (f"q{i}" if i % 2 else f"x{i}"): ("matched" if i % 2 else "none") for i in range(8)
    }
    assert llm.usage.snapshot().calls == 8


def test_bad_script_files_name_the_place(tmp_path: Path) -> None:
    jl = tmp_path / "bad.jsonl"
    jl.write_text('"ok"\n\n{"contains": "x", "response": "y"}\n{"contains": "x"}\n')
    with pytest.raises(LLMConfigError, match=r"bad\.jsonl:4: field 'response'"):
        make_llm(f"scripted:{jl}")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('"ok"\n{not json\n')
    with pytest.raises(LLMConfigError, match=r"broken\.jsonl:2: not valid JSON"):
        make_llm(f"scripted:{broken}")
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"rules": [{"contains": "a", "regex": "b", "response": "c"}]}))
    with pytest.raises(LLMConfigError, match="exactly one of"):
        make_llm(f"scripted:{both}")
    typo = tmp_path / "typo.yaml"
    typo.write_text("responses: [a]\nrulez: []\n")
    with pytest.raises(LLMConfigError, match=r"typo\.yaml.*rulez"):
        make_llm(f"scripted:{typo}")
    regex = tmp_path / "regex.json"
    regex.write_text(json.dumps([{"regex": "(", "response": "x"}]))
    with pytest.raises(LLMConfigError, match="invalid regex"):
        make_llm(f"scripted:{regex}")
    with pytest.raises(LLMConfigError, match="not found"):
        make_llm(f"scripted:{tmp_path / 'missing.json'}")
    txt = tmp_path / "s.txt"
    txt.write_text("x")
    with pytest.raises(LLMConfigError, match=r"\.json, \.jsonl, \.yaml"):
        make_llm(f"scripted:{txt}")
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(LLMConfigError, match="no responses"):
        make_llm(f"scripted:{empty}")


@pytest.mark.parametrize("spec", ["openai", "openai:", "gpt-4o", "bogus:model", ":x"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(LLMConfigError):
        parse_spec(spec)
    with pytest.raises(LLMConfigError):
        make_llm(spec)


def test_parse_spec() -> None:
    assert parse_spec("openai:gpt-4o") == ("openai", "gpt-4o")
    assert parse_spec("OpenAI:llama3:8b") == ("openai", "llama3:8b")
    assert parse_spec("scripted:/a/b.json") == ("scripted", "/a/b.json")


def test_scripted_pickles(tmp_path: Path) -> None:
    import pickle

    f = tmp_path / "s.json"
    f.write_text(json.dumps(["a", "b"]))
    llm = make_llm(f"scripted:{f}")
    llm.complete(_u("x"))
    clone = pickle.loads(pickle.dumps(llm))
    assert clone.complete(_u("x")).text == "a"  # a worker starts the script afresh
    in_code = pickle.loads(pickle.dumps(ScriptedLLM(["p", "q"], name="mem")))
    assert (in_code.spec, in_code.complete(_u("x")).text) == ("scripted:mem", "p")
