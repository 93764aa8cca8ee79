"""How a run drives a hosted model: requests in flight follow --workers (not a fixed 8),
the rate limit is one per model for thread workers and split over worker processes / Ray
actors, and the hosted flags reach the run config without touching its fingerprint."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from llm_servers import clear_llm_env

from lbi_icl.runner import RunConfig, run_experiment
from lbi_icl.runner.workers import _make_llm

ROOT = Path(__file__).resolve().parents[1]


def _provider_module():
    spec = importlib.util.spec_from_file_location(
        "hosted_provider", ROOT / "benchmarks" / "hosted" / "provider.py"
    )
    assert spec is not None and spec.loader is not None
    mod = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


def _cfg(tmp_path: Path, **kw: object) -> RunConfig:
    base: dict[str, object] = {
        "env": "babyai",
        "tasks": 1,
        "policy": "llm",
        "llm": "anthropic:claude-sonnet-4",
        "llm_base_url": "http://127.0.0.1:9",
        "out": tmp_path / "run",
    }
    return RunConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_concurrency_follows_workers_and_the_rate_limit_is_split(tmp_path: Path) -> None:
    threads = _make_llm(
        _cfg(tmp_path, workers=64, llm_rpm=600, llm_tpm=1e6), "anthropic:claude-sonnet-4"
    )
    assert threads.max_concurrency == 64
    info = threads.describe()
    assert (info.rpm, info.tpm, info.cache_prompt) == (600, 1e6, "auto")
    ray = _make_llm(
        _cfg(tmp_path, workers=4, executor="ray", llm_rpm=600), "anthropic:claude-sonnet-4"
    )
    assert ray.describe().rpm == 150  # each of 4 actors takes a quarter
    procs = _make_llm(
        _cfg(tmp_path, workers=3, parallel="process", llm_rpm=600, llm_cache_prompt="off"),
        "anthropic:claude-sonnet-4",
    )
    assert procs.describe().rpm == pytest.approx(200) and procs.cache_prompt == "off"


def test_hosted_settings_are_not_in_the_fingerprint(tmp_path: Path) -> None:
    a = _cfg(tmp_path)
    b = _cfg(
        tmp_path, llm_rpm=60, llm_tpm=1000, llm_cache_prompt="off", max_cost_usd=2.0, max_tokens=10
    )
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.babyai
def test_16_workers_have_16_requests_in_flight(tmp_path: Path) -> None:
    mod = _provider_module()
    with mod.Provider(mod.Settings(latency_s=1.0, per_output_token_s=0.0)) as prov:
        cfg = _cfg(
            tmp_path,
            tasks=16,
            workers=16,
            max_steps=2,
            llm_base_url=prov.anthropic_url,
            llm_cache_mode="off",
        )
        summary = run_experiment(cfg, show_progress=False)
        served = sorted(s.t for s in prov.stats())
    assert summary.ran == 16 and summary.errors == 0
    # requests that arrived within one latency of each other were in flight together
    overlap = max(sum(1 for u in served if t <= u < t + 1.0) for t in served)
    assert overlap >= 12  # the old fixed limit of 8 requests in flight is gone
