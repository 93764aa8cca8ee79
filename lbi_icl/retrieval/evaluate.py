"""Offline retrieval benchmark (`lbi eval-retrieval`): how good is each strategy without an
LLM in the loop?

For every step i of every held-out trajectory the step context is (instruction, history
steps[:i], observation o_i, task id, env) and the gold next action is a_i. Per strategy:

- action hit@k: the gold action equals the action at the matched position of one of the
  (at most k, after the token budget) retrieved windows. *exact*: equal after collapsing
  whitespace; *verb*: equal after `action_verb` (lowercase; first word, plus the second when
  it is a particle such as 'up', 'on', 'left': 'pick up pot' -> 'pick up',
  'go forward' -> 'go forward', 'open door' -> 'open').
- MRR: 1 / rank of the first exact (and verb) hit, 0 when none; averaged over steps.
- same-task precision@k: share of the k slots filled by examples with the held-out
  trajectory's task label (`metadata['task']`, else the task id without its last
  '/'-part); only when the held-out trajectory has one.
- tokens injected per step (rendered examples, `util.tokenizer.estimate_tokens`), items
  per step, and retrieval latency p50 / p95 (query-writing LLM time excluded).
- 95% intervals (`retrieval.bootstrap`: cluster bootstrap over held-out trajectories,
  seeded) of hit@k exact / verb and same-task precision, and the paired difference of each
  strategy against a baseline (default: agentic when evaluated) on the same steps.

k applies to every strategy: m1 = m2 = k_instruction = rag_max_docs = k, except agentic,
which splits k as m1 = ceil(k / 2) observation hits plus m2 = k - m1 model hits, so every
strategy fills the same k slots. Metrics are deterministic for the same inputs (latencies
are measurements and vary).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel

from lbi_icl.data import Task, Trajectory
from lbi_icl.index.build import task_label
from lbi_icl.index.load import ExampleIndex
from lbi_icl.llm.base import LLM
from lbi_icl.retrieval import STRATEGIES, make_retriever
from lbi_icl.retrieval.base import RetrievedItem, StepContext
from lbi_icl.retrieval.bootstrap import bootstrap_ci, paired_difference
from lbi_icl.retrieval.breakdown import (
    GroupMetrics,
    StepKeys,
    TypeCoverage,
    group_metrics,
    type_coverage,
)
from lbi_icl.retrieval.config import RetrievalConfig

log = logging.getLogger(__name__)

PARTICLES = frozenset(
    {"up", "down", "on", "off", "in", "into", "out", "at", "to", "from", "left", "right"}
    | {"forward", "back", "backward", "around", "over"}
)


def exact_action(action: str) -> str:
    return " ".join(action.split())


def action_verb(action: str) -> str:
    words = re.findall(r"[a-z]+", action.lower())
    if not words:
        return ""
    if len(words) > 1 and words[1] in PARTICLES:
        return f"{words[0]} {words[1]}"
    return words[0]


def predicted_action(item: RetrievedItem) -> str | None:
    """The action at the item's matched position (None for documents or a final match)."""
    if item.kind != "example" or item.matched_step is None or item.span is None:
        return None
    pos = item.matched_step - item.span[0]
    return item.window[pos].action if 0 <= pos < len(item.window) else None


class StrategyMetrics(BaseModel):
    strategy: str
    steps: int
    k: int
    hit_exact: float | None
    hit_verb: float | None
    mrr_exact: float | None
    mrr_verb: float | None
    same_task_precision: float | None
    items_per_step: float
    tokens_per_step: float
    dropped_per_step: float
    latency_p50_ms: float
    latency_p95_ms: float
    llm_seconds: float
    hit_exact_ci: tuple[float, float] | None = None
    hit_verb_ci: tuple[float, float] | None = None
    same_task_precision_ci: tuple[float, float] | None = None
    mrr_exact_ci: tuple[float, float] | None = None
    query_writers: dict[str, int] = {}  # steps per query writer ('template', 'llm:SPEC')
    query_samples: list[str] = []  # the first few model-written queries, as written
    first_exact_ranks: list[int] = []  # per step: rank of the first exact hit, 0 = none


class PairedDifference(BaseModel):
    """mean(strategy - baseline) of one per-step metric over the same steps, with its 95%
    cluster-bootstrap interval; `excludes_zero` when the interval lies on one side of 0."""

    strategy: str
    baseline: str
    metric: str
    diff: float
    ci_low: float
    ci_high: float
    excludes_zero: bool


class RetrievalEvalReport(BaseModel):
    index: str
    embedder: str
    # the backend that embedded the queries ('torch', 'openvino', ...; None: not recorded)
    query_backend: str | None = None
    heldout_trajectories: int
    heldout_steps: int
    k: int
    heldout_ids_in_index: int
    strategies: list[StrategyMetrics]
    config: dict[str, object]
    baseline: str | None = None
    paired: list[PairedDifference] = []
    bootstrap: int = 0
    # per task type / step position / replay flag (`retrieval.breakdown`)
    breakdowns: list[GroupMetrics] = []
    # held-out task types against the index's examples; `missing_types`: none in the index
    coverage: list[TypeCoverage] = []
    missing_types: list[str] = []


def strategy_config(base: RetrievalConfig, strategy: str, k: int) -> RetrievalConfig:
    m1 = math.ceil(k / 2) if strategy == "agentic" else k
    m2 = k - m1 if strategy == "agentic" else k
    return base.model_copy(update={"m1": m1, "m2": m2, "k_instruction": k, "rag_max_docs": k})


def _mean(values: Sequence[float]) -> float | None:
    return round(float(np.mean(values)), 6) if values else None


def evaluate_retrieval(
    index: ExampleIndex,
    heldout: Iterable[Trajectory],
    *,
    strategies: Sequence[str] = STRATEGIES,
    k: int = 5,
    config: RetrievalConfig | None = None,
    llm: LLM | None = None,
    max_steps: int | None = None,
    baseline: str | None = None,
    bootstrap: int = 2000,
) -> RetrievalEvalReport:
    """Run every strategy on every held-out step; see the module docstring for metrics.
    `baseline`: the strategy every other is paired against (default agentic when listed,
    else the first strategy with examples); `bootstrap`: replicates (0 = no intervals)."""
    for s in strategies:
        if s not in STRATEGIES:
            raise ValueError(f"unknown retrieval strategy {s!r}; choose from {STRATEGIES}")
    if baseline is not None and baseline not in strategies:
        raise ValueError(f"baseline {baseline!r} is not among the evaluated strategies")
    base = config or RetrievalConfig()
    trajs = list(heldout)
    index.warm(dense=any(s != "none" for s in strategies))
    in_index = sum(1 for t in trajs if t.id in index._idx)
    if in_index:
        log.warning("%d held-out trajectories are also in the index (ids match)", in_index)
    labels = index.meta_values.get("label", [])
    label_col = index.meta_column("label")
    results: list[StrategyMetrics] = []
    per_step: dict[str, dict[str, list[float]]] = {}
    step_traj: list[int] = []
    prec_traj: list[int] = []
    n_steps = 0
    keys = StepKeys()
    for s_no, strategy in enumerate(strategies):
        retriever = make_retriever(strategy, index, strategy_config(base, strategy, k))
        hit_e: list[float] = []
        hit_v: list[float] = []
        rr_e: list[float] = []
        rr_v: list[float] = []
        prec: list[float] = []
        items_n: list[int] = []
        toks: list[int] = []
        dropped: list[int] = []
        lat: list[float] = []
        llm_s = 0.0
        n_steps = 0
        step_traj, prec_traj = [], []
        writers: dict[str, int] = {}
        samples: list[str] = []
        ranks: list[int] = []
        for t_no, traj in enumerate(trajs):
            tid = traj.task_id or traj.id
            retriever.reset(Task(id=tid, env=traj.env, instruction=traj.instruction))
            label = task_label(traj.task_id, traj.metadata)
            for i, step in enumerate(traj.steps):
                if max_steps is not None and n_steps >= max_steps:
                    break
                n_steps += 1
                step_traj.append(t_no)
                if s_no == 0:
                    keys.add(t_no, traj, i)
                ctx = StepContext.at(traj, i)
                res = retriever.retrieve(ctx, llm)
                items = res.items[:k]
                writer = res.queries.get("query_writer")
                if writer:
                    writers[writer] = writers.get(writer, 0) + 1
                    if writer.startswith("llm:") and len(samples) < 5:
                        samples.append(res.queries.get("model", ""))
                lat.append(res.latency_s)
                llm_s += res.llm_latency_s
                items_n.append(len(items))
                toks.append(sum(it.tokens for it in items))
                dropped.append(len(res.dropped))
                gold_e, gold_v = exact_action(step.action), action_verb(step.action)
                first_e = first_v = 0
                for rank, it in enumerate(items, start=1):
                    pred = predicted_action(it)
                    if pred is None:
                        continue
                    if not first_e and exact_action(pred) == gold_e:
                        first_e = rank
                    if not first_v and action_verb(pred) == gold_v:
                        first_v = rank
                ranks.append(first_e)
                hit_e.append(1.0 if first_e else 0.0)
                hit_v.append(1.0 if first_v else 0.0)
                rr_e.append(1.0 / first_e if first_e else 0.0)
                rr_v.append(1.0 / first_v if first_v else 0.0)
                if label is not None and strategy not in ("none", "rag"):
                    same = sum(
                        1
                        for it in items
                        if it.kind == "example"
                        and labels[int(label_col[index.index_of(it.id)])] == label
                    )
                    prec.append(same / k)
                    prec_traj.append(t_no)
        has_examples = strategy not in ("none", "rag")
        if has_examples:
            per_step[strategy] = {"hit_exact": hit_e, "hit_verb": hit_v, "same_task": prec}

        def ci(
            values: list[float], clusters: list[int], on: bool = has_examples
        ) -> tuple[float, float] | None:
            if not on or not bootstrap:
                return None
            return bootstrap_ci(values, clusters, n_boot=bootstrap)

        lat_ms = np.asarray(lat, dtype=np.float64) * 1000 if lat else np.zeros(1)
        results.append(
            StrategyMetrics(
                strategy=strategy,
                steps=n_steps,
                k=k,
                hit_exact=_mean(hit_e) if has_examples else None,
                hit_verb=_mean(hit_v) if has_examples else None,
                mrr_exact=_mean(rr_e) if has_examples else None,
                mrr_verb=_mean(rr_v) if has_examples else None,
                same_task_precision=_mean(prec),
                items_per_step=_mean(items_n) or 0.0,
                tokens_per_step=_mean(toks) or 0.0,
                dropped_per_step=_mean(dropped) or 0.0,
                latency_p50_ms=round(float(np.percentile(lat_ms, 50)), 3),
                latency_p95_ms=round(float(np.percentile(lat_ms, 95)), 3),
                llm_seconds=round(llm_s, 3),
                hit_exact_ci=ci(hit_e, step_traj),
                hit_verb_ci=ci(hit_v, step_traj),
                mrr_exact_ci=ci(rr_e, step_traj),
                same_task_precision_ci=ci(prec, prec_traj),
                query_writers=writers,
                query_samples=samples,
                first_exact_ranks=ranks if has_examples else [],
            )
        )
    if baseline is None:
        baseline = "agentic" if "agentic" in per_step else next(iter(per_step), None)
    paired = (
        paired_differences(per_step, baseline, step_traj, prec_traj, bootstrap)
        if baseline in per_step and bootstrap
        else []
    )
    coverage = type_coverage(index, trajs)
    return RetrievalEvalReport(
        index=str(index.path),
        embedder=index.manifest.embedder.id,
        query_backend=index.query_backend,
        heldout_trajectories=len(trajs),
        heldout_steps=n_steps,
        k=k,
        heldout_ids_in_index=in_index,
        strategies=results,
        config=base.model_dump(mode="json"),
        baseline=baseline if baseline in per_step else None,
        paired=paired,
        bootstrap=bootstrap,
        breakdowns=group_metrics(per_step, keys, baseline, bootstrap),
        coverage=coverage,
        missing_types=[c.task_type for c in coverage if c.index_examples == 0],
    )


def paired_differences(
    per_step: dict[str, dict[str, list[float]]],
    baseline: str,
    step_traj: list[int],
    prec_traj: list[int],
    n_boot: int,
) -> list[PairedDifference]:
    """Every strategy with examples against `baseline`, per metric, on the same steps."""
    out: list[PairedDifference] = []
    base = per_step[baseline]
    for strategy, metrics in per_step.items():
        if strategy == baseline:
            continue
        for metric, clusters in (
            ("hit_exact", step_traj),
            ("hit_verb", step_traj),
            ("same_task", prec_traj),
        ):
            res = paired_difference(metrics[metric], base[metric], clusters, n_boot=n_boot)
            if res is None:
                continue
            diff, lo, hi = res
            out.append(
                PairedDifference(
                    strategy=strategy,
                    baseline=baseline,
                    metric=metric,
                    diff=diff,
                    ci_low=lo,
                    ci_high=hi,
                    excludes_zero=lo > 0 or hi < 0,
                )
            )
    return out
