"""Prompt caching end to end: BabyAI runs with the LLM policy against the loopback provider
of benchmarks/hosted (both wire protocols, the providers' cache accounting). The provider
records the breakpoints each request carried; the cache tokens reach the step logs, the
episode records and the report, and the run costs less with caching than without. With
the stable-first prompt layout, the system text and the objective are cached across steps
whose retrieved examples differ; with the paper's layout (examples first) they are not."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from llm_servers import clear_llm_env

from lbi_icl.agent import make_policy, run_episode
from lbi_icl.agent.base import AgentConfig
from lbi_icl.agent.prompt import system_message
from lbi_icl.data import Step, Task
from lbi_icl.envs.base import StepResult
from lbi_icl.llm import make_llm
from lbi_icl.retrieval.base import RetrievalResult, RetrievedItem, StepContext
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


# -- the prompt layout and the Anthropic breakpoints ------------------------------------------
INSTRUCTION = "walk to the far end of the long corridor and stop there. " * 20  # ~290 tokens
ACTION_SPACE = "Actions: go forward | turn left | turn right."


class _Walk:
    """Every step a new observation; episodes run to their step limit."""

    name = "walk"

    def __init__(self) -> None:
        self.pos = 0

    def reset(self, task: Task) -> str:
        self.pos = 0
        return f"You are at cell {self.pos}."

    def step(self, action: str) -> StepResult:
        self.pos += 1
        return StepResult(observation=f"You are at cell {self.pos}.", reward=0.0, done=False)

    def action_space_text(self) -> str:
        return ACTION_SPACE

    def valid_actions(self) -> list[str] | None:
        return None

    def close(self) -> None:
        pass


class _StepExamples:
    """Examples that differ at every step (as an observation-keyed retrieval's do)."""

    name = "observation"

    def reset(self, task: Task) -> None:
        pass

    def retrieve(self, ctx: StepContext, llm: object = None) -> RetrievalResult:
        item = RetrievedItem(
            id=f"ex-{ctx.step}",
            score=1.0 + ctx.step,  # the item's first line differs from step to step
            rank=0,
            strategy="observation",
            query=ctx.observation,
            matched_step=0,
            span=(0, 1),
            instruction=f"step {ctx.step}",
            window=[Step(observation=f"cell {ctx.step} " * 60, action="go forward")],
        )
        return RetrievalResult(strategy=self.name, items=[item])


def _episode(url: str, layout: str) -> None:
    llm = make_llm("anthropic:claude-sonnet-4", base_url=url, cache_mode="off")
    config = AgentConfig(max_steps=3, prompt_layout=layout)  # type: ignore[arg-type]
    task = Task(id="walk-0", env="walk", instruction=INSTRUCTION, split="test")
    policy = make_policy("llm", llm=llm)
    result = run_episode(_Walk(), task, policy, _StepExamples(), config=config, seed=0)
    assert result.error is None and result.policy_calls == 3


def _cached_head(body: dict) -> str:
    """The user message's text up to its last cache_control breakpoint ('' if none)."""
    (user,) = body["messages"]
    blocks = user["content"] if isinstance(user["content"], list) else []
    marked = [i for i, b in enumerate(blocks) if "cache_control" in b]
    return "".join(b["text"] for b in blocks[: marked[-1] + 1]) if marked else ""


def test_stable_first_caches_system_and_objective_across_steps() -> None:
    """Consecutive steps whose examples differ share system + objective only with the
    objective first: the request marks a breakpoint after it and the next step reads it."""
    system = system_message(ACTION_SPACE, "walk")
    system_tokens = (len("<system>") + len(system)) // 4
    objective_tokens = len(INSTRUCTION) // 4
    # the system text alone is under the cache minimum, system + objective over it
    minimum = system_tokens + objective_tokens // 2
    settings = Settings(
        latency_s=0.0, per_output_token_s=0.0, min_cache_tokens=minimum, keep_requests=True
    )
    with Provider(settings) as prov:
        _episode(prov.anthropic_url, "stable_first")
        stable, stable_served = prov.requests(), prov.stats()
        prov.reset()
        _episode(prov.anthropic_url, "examples_first")
        paper, paper_served = prov.requests(), prov.stats()

    def user_text(body: dict) -> str:
        content = body["messages"][0]["content"]
        return content if isinstance(content, str) else "".join(b["text"] for b in content)

    objective = f"## Objective\n{INSTRUCTION.strip()}\n\n"
    texts = [user_text(b) for b in stable]
    assert all(t.startswith(objective + "## Additional information") for t in texts)
    assert texts[1] != texts[2] and "Task: step 1\n" in texts[1] and "Task: step 2\n" in texts[2]
    assert all(b["system"][0]["text"] == system for b in stable)  # the same system text
    # steps 2 and 3 mark the shared head: system + objective (+ the examples' header line),
    # never the examples that changed
    for body in stable[1:]:
        head = _cached_head(body)
        assert head.startswith(objective) and "(found by" not in head
        assert "cache_control" in body["system"][-1]
    assert [s.breakpoints for s in stable_served] == [1, 2, 2]
    # step 2 writes system + objective (over the minimum), step 3 reads it from the cache
    assert stable_served[0].cache_write == 0 and stable_served[1].cache_write > 0
    assert stable_served[2].cache_read == stable_served[1].cache_write
    assert stable_served[2].cache_read >= system_tokens + objective_tokens

    # the paper's layout: the examples come first and change, so the shared head ends
    # before the objective, under the minimum: nothing is cached
    assert all(user_text(b).startswith("## Additional information") for b in paper)
    for body in paper[1:]:
        head = _cached_head(body)
        assert "## Objective" not in head
    assert sum(s.cache_read + s.cache_write for s in paper_served) == 0
