"""Prompt caching end to end: BabyAI runs with the LLM policy against the loopback provider
of benchmarks/hosted (both wire protocols, the providers' cache accounting). The provider
records the breakpoints each request carried; the cache tokens reach the step logs, the
episode records and the report, and the run costs less with caching than without."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from llm_servers import clear_llm_env

from lbi_icl.runner import RunConfig, latest_records, run_experiment
from lbi_icl.runner.report import build_report, report

pytestmark = pytest.mark.babyai

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "hosted_provider", ROOT / "benchmarks" / "hosted" / "provider.py"
)
assert _spec is not None and _spec.loader is not None
provider_mod = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = provider_mod  # dataclasses look their module up there
_spec.loader.exec_module(provider_mod)
Provider, Settings = provider_mod.Provider, provider_mod.Settings


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


@pytest.fixture
def provider():
    # no latency; a low cache minimum so BabyAI's short prompts are cacheable at all
    with Provider(Settings(latency_s=0.0, per_output_token_s=0.0, min_cache_tokens=64)) as p:
        yield p


def _run(out: Path, spec: str, url: str, cache_prompt: str) -> None:
    cfg = RunConfig(
        env="babyai",
        tasks=2,
        policy="llm",
        llm=spec,
        llm_base_url=url,
        llm_cache_prompt=cache_prompt,  # type: ignore[arg-type]
        llm_cache_mode="off",
        strategies=["none"],
        out=out,
        max_steps=6,  # type: ignore[call-arg]
        workers=2,
    )
    summary = run_experiment(cfg, show_progress=False)
    assert summary.errors == 0 and summary.ran == 2


def test_anthropic_breakpoints_cache_tokens_and_cost(tmp_path: Path, provider) -> None:
    spec = "anthropic:claude-sonnet-4"
    _run(tmp_path / "cached", spec, provider.anthropic_url, "auto")
    served = provider.stats()
    provider.reset()
    _run(tmp_path / "plain", spec, provider.anthropic_url, "off")
    plain_served = provider.stats()

    assert len(served) == 12 and all(s.status == 200 for s in served)
    # every request marks the system text; from an episode's 2nd step on, the shared head too
    assert all(s.breakpoints >= 1 for s in served)
    assert sum(s.breakpoints >= 2 for s in served) >= 8
    assert all(s.breakpoints == 0 and s.cache_read == 0 for s in plain_served)

    cached = latest_records(tmp_path / "cached")
    plain = latest_records(tmp_path / "plain")
    assert sum(r.cache_read_tokens for r in cached.values()) == sum(s.cache_read for s in served)
    assert sum(r.cache_write_tokens for r in cached.values()) == sum(s.cache_write for s in served)
    assert all(r.cache_read_tokens > 0 for r in cached.values())
    # the same prompts: the same tokens, fewer dollars
    assert sum(r.input_tokens for r in cached.values()) == sum(
        r.input_tokens for r in plain.values()
    )
    cost = sum(r.cost_usd or 0 for r in cached.values())
    plain_cost = sum(r.cost_usd or 0 for r in plain.values())
    assert 0 < cost < plain_cost

    rec = next(iter(cached.values()))
    steps = [json.loads(x) for x in (tmp_path / "cached" / rec.steps_log).read_text().splitlines()]
    assert sum(s["cache_read_tokens"] for s in steps) == rec.cache_read_tokens
    assert steps[-1]["cache_read_tokens"] > steps[0]["cache_read_tokens"]  # the head too

    rep = build_report(tmp_path / "cached")
    assert rep.strategies[0].cache_read_tokens_per_episode == pytest.approx(
        sum(r.cache_read_tokens for r in cached.values()) / 2
    )
    md = report(tmp_path / "cached", "md")
    assert "cache read/write per ep" in md
    assert "cache read/write per ep" not in report(tmp_path / "plain", "md")


def test_openai_automatic_caching_is_parsed_and_priced(tmp_path: Path, provider) -> None:
    spec = "openai:gpt-4o-mini"
    _run(tmp_path / "run", spec, provider.openai_url, "auto")
    served = provider.stats()
    assert all(not s.cache_key for s in served)  # a loopback URL is not api.openai.com
    recs = latest_records(tmp_path / "run")
    read = sum(r.cache_read_tokens for r in recs.values())
    assert read == sum(s.cache_read for s in served) > 0
    assert sum(r.cache_write_tokens for r in recs.values()) == 0
    # gpt-4o-mini: $0.15/M input, $0.075/M cached input, $0.60/M output
    full = sum(s.input_tokens * 0.15 + s.output_tokens * 0.60 for s in served) / 1e6
    cost = sum(r.cost_usd or 0 for r in recs.values())
    assert cost == pytest.approx(full - read * 0.075 / 1e6)


def test_provider_cache_minimum_and_lookback() -> None:
    p = Provider(Settings(min_cache_tokens=1024))
    big = "x" * 4 * 2000  # 2000 tokens

    def body(user: str, cc: bool) -> dict:
        block = {"type": "text", "text": big}
        if cc:
            block["cache_control"] = {"type": "ephemeral"}
        return {"model": "m", "system": [block], "messages": [{"role": "user", "content": user}]}

    assert p.anthropic_usage(body("a", False), 0.0)[1:3] == (0, 0)  # no breakpoint, no cache
    assert p.anthropic_usage(body("a", True), 0.0)[1:3] == (0, 2002)  # written
    assert p.anthropic_usage(body("b", True), 1.0)[1:3] == (2002, 0)  # read
    assert p.anthropic_usage(body("b", True), 1000.0)[1:3] == (0, 2002)  # expired: written again
    small = Provider(Settings())
    tiny = {
        "model": "m",
        "system": [{"type": "text", "text": "hi", "cache_control": {}}],
        "messages": [{"role": "user", "content": "u"}],
    }
    assert small.anthropic_usage(tiny, 0.0)[1:3] == (0, 0)  # under the minimum: not cached
    assert small.anthropic_usage(tiny, 1.0)[1:3] == (0, 0)
