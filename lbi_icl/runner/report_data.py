"""The numbers of `lbi report`: per-strategy rows (success with its Wilson CI, score, steps,
parse rates, tokens, cost, retrieval latency) and paired rows against `none`, from the
latest record per episode key. The output formats live in `report_text.py` (md, csv, json,
the terminal table) and `report_html.py`."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, Field

from lbi_icl.prompts.specs import LEGACY_LAYOUT
from lbi_icl.runner import significance as stats
from lbi_icl.runner.config import KNOWN_STRATEGIES
from lbi_icl.runner.results import is_finished
from lbi_icl.runner.runlog import EpisodeRecord, latest_records, read_manifest

BASELINE = "none"
RETRIEVAL_LABEL = "retrieval-only offline baseline (no LLM)"


class StrategyRow(BaseModel):
    strategy: str
    episodes: int
    errors: int
    finished: int
    successes: int
    success_rate: float | None
    ci_low: float | None
    ci_high: float | None
    mean_score: float | None
    mean_steps: float | None
    input_tokens_per_episode: float | None
    output_tokens_per_episode: float | None
    cost_per_episode_usd: float | None
    cost_known_episodes: int
    retrieval_p50_ms: float | None
    retrieval_p95_ms: float | None
    parsed_rate: float | None = None  # share of policy answers with a parsed action
    valid_rate: float | None = None  # share naming a valid (or unchecked) action
    # prompt tokens per episode read from / written to the provider's prompt cache (parts
    # of input_tokens_per_episode, billed at the model's cache prices)
    cache_read_tokens_per_episode: float | None = None
    cache_write_tokens_per_episode: float | None = None


class PairedRow(BaseModel):
    """`strategy` vs the baseline on the (task, seed) pairs both finished."""

    strategy: str
    baseline: str = BASELINE
    pairs: int
    strategy_rate: float | None
    baseline_rate: float | None
    difference: float | None
    strategy_only: int  # pairs the strategy solved and the baseline did not
    baseline_only: int
    p_value: float  # exact McNemar (two-sided sign test on discordant pairs)
    score_difference: float | None = None
    score_difference_ci: tuple[float, float] | None = None


class Report(BaseModel):
    run: str
    env: str | None
    split: str | None
    policy: str | None
    llm: str | None
    label: str
    strategies: list[StrategyRow]
    paired: list[PairedRow]
    env_notes: list[str] = Field(default_factory=list)  # the env's run notes (manifest)
    run_notes: list[str] = Field(default_factory=list)  # e.g. why the run stopped (budget)
    protocol: str | None = None  # the env's evaluation protocol and its values (web envs)
    # the agent prompt's layout (LLM policies): stable_first | examples_first | custom
    prompt_layout: str | None = None
    prompt_layout_source: str | None = None  # custom: the user's agent_user file
    episodes: list[EpisodeRecord] = Field(default_factory=list, exclude=True)


def policy_label(policy: str | None, llm: str | None) -> str:
    """Say plainly what produced the numbers, so nobody mistakes a baseline for an agent."""
    if policy == "retrieval":
        return RETRIEVAL_LABEL
    if llm and llm.startswith("scripted:"):
        return f"offline scripted LLM ({llm}) — not a real model"
    if llm:
        return f"LLM policy {llm}"
    return "unknown policy"


def _order(strategies: set[str], configured: list[str]) -> list[str]:
    rank = {s: i for i, s in enumerate([*configured, *KNOWN_STRATEGIES])}
    return sorted(strategies, key=lambda s: (rank.get(s, len(rank)), s))


def strategy_row(strategy: str, recs: list[EpisodeRecord]) -> StrategyRow:
    finished = [r for r in recs if is_finished(r)]
    succ = sum(1 for r in finished if r.success)
    n = len(finished)
    lo, hi = stats.wilson_interval(succ, n) if n else (None, None)
    scores = [r.score for r in finished if r.score is not None]
    costs = [r.cost_usd for r in recs if r.cost_usd is not None]
    lat = [x * 1000 for r in recs for x in r.retrieval_latencies_s]
    calls = sum(r.policy_calls for r in finished)  # an errored call is no answer at all
    return StrategyRow(
        strategy=strategy,
        episodes=len(recs),
        errors=len(recs) - n,
        finished=n,
        successes=succ,
        success_rate=succ / n if n else None,
        ci_low=lo,
        ci_high=hi,
        mean_score=stats.mean(scores),
        mean_steps=stats.mean([r.steps for r in finished]),
        input_tokens_per_episode=stats.mean([r.input_tokens for r in recs]),
        output_tokens_per_episode=stats.mean([r.output_tokens for r in recs]),
        cost_per_episode_usd=stats.mean(costs),
        cost_known_episodes=len(costs),
        retrieval_p50_ms=stats.percentile(lat, 50),
        retrieval_p95_ms=stats.percentile(lat, 95),
        parsed_rate=sum(r.parsed_calls for r in finished) / calls if calls else None,
        valid_rate=sum(r.valid_calls for r in finished) / calls if calls else None,
        cache_read_tokens_per_episode=stats.mean([r.cache_read_tokens for r in recs]),
        cache_write_tokens_per_episode=stats.mean([r.cache_write_tokens for r in recs]),
    )


def paired_row(
    strategy: str, recs: list[EpisodeRecord], base: list[EpisodeRecord], *, seed: int = 0
) -> PairedRow:
    b = {(r.task_id, r.seed): r for r in base if is_finished(r)}
    pairs = [
        (r, b[(r.task_id, r.seed)]) for r in recs if is_finished(r) and (r.task_id, r.seed) in b
    ]
    s_only = sum(1 for s, o in pairs if s.success and not o.success)
    b_only = sum(1 for s, o in pairs if o.success and not s.success)
    n = len(pairs)
    s_rate = sum(s.success for s, _ in pairs) / n if n else None
    b_rate = sum(o.success for _, o in pairs) / n if n else None
    diffs = [s.score - o.score for s, o in pairs if s.score is not None and o.score is not None]
    return PairedRow(
        strategy=strategy,
        pairs=n,
        strategy_rate=s_rate,
        baseline_rate=b_rate,
        difference=(s_rate - b_rate) if s_rate is not None and b_rate is not None else None,
        strategy_only=s_only,
        baseline_only=b_only,
        p_value=stats.mcnemar_exact(s_only, b_only),
        score_difference=stats.mean(diffs),
        score_difference_ci=stats.bootstrap_mean_ci(diffs, seed=seed),
    )


# Envs whose runs recorded no protocol before protocols existed ran the project's own
# settings (`protocol lbi`); every other env has no protocol at all.
LEGACY_LBI_ENVS = ("miniwob", "webarena", "visualwebarena", "webarena_verified", "workarena")


def run_protocol(manifest: dict) -> str | None:
    """The evaluation protocol a run's env recorded (its `protocol NAME: values` note;
    web envs), 'protocol lbi' for a web run made before protocols were recorded, else None."""
    env = manifest.get("env") or {}
    for note in env.get("notes") or []:
        if str(note).startswith("protocol "):
            return str(note)
    name = (manifest.get("config") or {}).get("env") or env.get("name")
    return "protocol lbi (recorded before protocols)" if name in LEGACY_LBI_ENVS else None


def protocol_mismatch(a: dict, b: dict) -> str | None:
    """Why two runs' episodes cannot be paired (different evaluation protocols: seeds,
    step limits, action sets), or None when their protocols are the same."""
    pa, pb = run_protocol(a), run_protocol(b)
    if pa == pb or (pa and pb and _name(pa) == _name(pb) == "lbi" and "before" in pa + pb):
        return None
    return f"different evaluation protocols: {pa or 'none'} | {pb or 'none'}"


def _name(note: str) -> str:
    return note.removeprefix("protocol ").split(":")[0].split(" ")[0]


def prompt_layout_of(manifest: dict, policy: str | None) -> tuple[str | None, str | None]:
    """The layout of the run's agent prompts (None for the retrieval-only policy, which
    sends none) and, for 'custom', the agent_user file; a manifest written before the
    setting existed is the paper's layout."""
    if policy != "llm" or not manifest:
        return None, None
    layout = manifest.get("prompt_layout")
    if not isinstance(layout, str):
        agent = (manifest.get("config") or {}).get("agent") or {}
        layout = agent.get("prompt_layout") or LEGACY_LAYOUT
    user = (manifest.get("prompts") or {}).get("agent_user") or {}
    source = user.get("source") if layout == "custom" else None
    return layout, source if isinstance(source, str) else None


def _run_notes(manifest: dict) -> list[str]:
    """What the latest session says about how the run ended, when it did not complete."""
    sessions = manifest.get("sessions") or [{}]
    last = sessions[-1] if isinstance(sessions[-1], dict) else {}
    stopped = last.get("stopped")
    return [str(stopped)] if last.get("status") == "budget" and stopped else []


def build_report(run_dir: str | Path) -> Report:
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    manifest = read_manifest(run) or {}
    cfg = manifest.get("config", {})
    latest = latest_records(run)
    by_strategy: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for rec in sorted(latest.values(), key=lambda r: (r.strategy, r.task_id, r.seed)):
        by_strategy[rec.strategy].append(rec)
    order = _order(set(by_strategy), list(cfg.get("strategies", [])))
    rows = [strategy_row(s, by_strategy[s]) for s in order]
    paired = []
    if BASELINE in by_strategy:
        paired = [
            paired_row(s, by_strategy[s], by_strategy[BASELINE]) for s in order if s != BASELINE
        ]
    policies = {r.policy for r in latest.values()}
    policy = cfg.get("policy") or (policies.pop() if len(policies) == 1 else None)
    layout, layout_source = prompt_layout_of(manifest, policy)
    return Report(
        run=str(run),
        env=cfg.get("env"),
        split=cfg.get("split"),
        policy=policy,
        llm=cfg.get("llm"),
        label=policy_label(policy, cfg.get("llm")),
        strategies=rows,
        paired=paired,
        env_notes=list((manifest.get("env") or {}).get("notes") or []),
        run_notes=_run_notes(manifest),
        protocol=run_protocol(manifest),
        prompt_layout=layout,
        prompt_layout_source=layout_source,
        episodes=[r for s in order for r in by_strategy[s]],
    )
