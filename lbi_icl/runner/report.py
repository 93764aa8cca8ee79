"""`lbi report`: per-strategy results with 95 % CIs and paired tests against `none`.

Numbers come from the latest record per episode key, so resumed and retried runs never
double count. Success rate, score and steps are over finished episodes (errored episodes
are counted in their own column and excluded, since an infrastructure error says nothing
about the strategy); tokens and cost are per recorded episode, errors included, because
they were spent.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from lbi_icl.jsonl import atomic_write_text
from lbi_icl.runner import stats
from lbi_icl.runner.config import KNOWN_STRATEGIES
from lbi_icl.runner.manifest import read_manifest
from lbi_icl.runner.results import EpisodeRecord, is_finished, latest_records

Format = Literal["md", "csv", "json", "html"]
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
    return Report(
        run=str(run),
        env=cfg.get("env"),
        split=cfg.get("split"),
        policy=policy,
        llm=cfg.get("llm"),
        label=policy_label(policy, cfg.get("llm")),
        strategies=rows,
        paired=paired,
        episodes=[r for s in order for r in by_strategy[s]],
    )


# ---------------------------------------------------------------------------- formatting
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _cost(x: float | None) -> str:
    return "-" if x is None else f"${x:.4f}"


def _p(x: float) -> str:
    return f"{x:.3g}"


def table_rows(rep: Report) -> tuple[list[str], list[list[str]]]:
    """The main table as strings: shared by markdown, rich and HTML."""
    head = [
        "strategy",
        "episodes",
        "errors",
        "success",
        "95% CI",
        "mean score",
        "mean steps",
        "parsed/valid %",
        "tokens in/out per ep",
        "cost per ep",
        "retrieval p50/p95 ms",
        "vs none",
        "p (McNemar)",
    ]
    paired = {p.strategy: p for p in rep.paired}
    rows = []
    for r in rep.strategies:
        p = paired.get(r.strategy)
        ci = "-" if r.ci_low is None else f"{_pct(r.ci_low)}–{_pct(r.ci_high)}"
        tok = (
            "-"
            if r.input_tokens_per_episode is None
            else f"{r.input_tokens_per_episode:.0f}/{r.output_tokens_per_episode or 0:.0f}"
        )
        lat = (
            "-"
            if r.retrieval_p50_ms is None
            else f"{r.retrieval_p50_ms:.1f}/{_num(r.retrieval_p95_ms, 1)}"
        )
        vs = "-" if p is None or p.difference is None else f"{100 * p.difference:+.1f} pts"
        rows.append(
            [
                r.strategy,
                str(r.episodes),
                str(r.errors),
                f"{_pct(r.success_rate)} ({r.successes}/{r.finished})",
                ci,
                _num(r.mean_score),
                _num(r.mean_steps, 1),
                "-" if r.parsed_rate is None else f"{_pct(r.parsed_rate)}/{_pct(r.valid_rate)}",
                tok,
                _cost(r.cost_per_episode_usd),
                lat,
                vs,
                "-" if p is None else _p(p.p_value),
            ]
        )
    return head, rows


def _title(rep: Report) -> str:
    where = " / ".join(x for x in (rep.env, rep.split) if x)
    return f"{where} — {rep.label}" if where else rep.label


def _notes(rep: Report) -> list[str]:
    notes = [
        "success and its 95% CI (Wilson) are over finished episodes (errors excluded)",
        "vs none: difference in success (points) on the same (task, seed) pairs; "
        "p: exact McNemar test on the discordant pairs",
    ]
    if rep.policy == "retrieval":
        notes.append(
            "retrieval-only offline baseline: actions come from retrieved examples, not an "
            "LLM; compare its strategies with each other, not with LLM results"
        )
    notes.append("retr ms: retrieval latency p50/p95 per step")
    return notes


def to_markdown(rep: Report) -> str:
    head, rows = table_rows(rep)
    out = [f"# {_title(rep)}", "", f"run: `{rep.run}`", ""]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join("---" for _ in head) + "|")
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out.append("")
    out += [f"- {n}" for n in _notes(rep)]
    return "\n".join(out) + "\n"


def to_csv(rep: Report) -> str:
    buf = io.StringIO()
    paired = {p.strategy: p for p in rep.paired}
    fields = [
        *list(StrategyRow.model_fields),
        "pairs_vs_none",
        "difference_vs_none",
        "p_value_vs_none",
        "label",
    ]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rep.strategies:
        p = paired.get(r.strategy)
        row: dict[str, Any] = r.model_dump()
        row.update(
            pairs_vs_none=p.pairs if p else None,
            difference_vs_none=p.difference if p else None,
            p_value_vs_none=p.p_value if p else None,
            label=rep.label,
        )
        w.writerow(row)
    return buf.getvalue()


def to_json(rep: Report) -> str:
    return json.dumps(json.loads(rep.model_dump_json()), indent=2) + "\n"


def _svg_chart(rep: Report) -> str:
    """Bars of success rate with Wilson CI whiskers, drawn inline (no JS, no CDN)."""
    rows = [r for r in rep.strategies if r.success_rate is not None]
    bar_w, gap, height, top, bottom, left = 56, 28, 220, 28, 40, 44
    width = left + len(rows) * (bar_w + gap) + gap
    total_h = top + height + bottom

    def y(v: float) -> float:
        return top + height * (1 - v)

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{total_h}" role="img" aria-label="success rate by strategy">',
        "<title>success rate by strategy (95% Wilson CI)</title>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            'stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'font-size="11">{int(tick * 100)}%</text>'
        )
    for i, r in enumerate(rows):
        x = left + gap + i * (bar_w + gap)
        rate = r.success_rate or 0.0
        name = html.escape(r.strategy)
        parts.append(
            f'<rect class="bar" data-strategy="{name}" x="{x}" y="{y(rate):.1f}" '
            f'width="{bar_w}" height="{height * rate:.1f}" fill="#4c78a8">'
            f"<title>{name}: {_pct(rate)} ({r.successes}/{r.finished})</title></rect>"
        )
        top_of = max(rate, r.ci_high or 0.0)  # the label sits above bar and whisker
        if r.ci_low is not None and r.ci_high is not None:
            cx = x + bar_w / 2
            parts.append(
                f'<line x1="{cx}" x2="{cx}" y1="{y(r.ci_low):.1f}" y2="{y(r.ci_high):.1f}" '
                'stroke="#222"/>'
                f'<line x1="{cx - 8}" x2="{cx + 8}" y1="{y(r.ci_high):.1f}" '
                f'y2="{y(r.ci_high):.1f}" stroke="#222"/>'
                f'<line x1="{cx - 8}" x2="{cx + 8}" y1="{y(r.ci_low):.1f}" '
                f'y2="{y(r.ci_low):.1f}" stroke="#222"/>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2}" y="{top + height + 16}" text-anchor="middle" '
            f'font-size="12">{name}</text>'
            f'<text x="{x + bar_w / 2}" y="{y(top_of) - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{_pct(rate)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def to_html(rep: Report) -> str:
    esc = html.escape
    head, rows = table_rows(rep)
    main = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    ep_rows = []
    for e in rep.episodes:
        traj = f'<a href="{esc(e.trajectory_file)}">trajectory</a>' if e.trajectory_file else ""
        ep_rows.append(
            "<tr>"
            f"<td>{esc(e.strategy)}</td><td>{esc(e.task_id)}</td><td>{e.seed}</td>"
            f'<td class="{"ok" if e.success else "no"}">{"yes" if e.success else "no"}</td>'
            f"<td>{_num(e.score)}</td><td>{e.steps}</td>"
            f"<td>{e.input_tokens}/{e.output_tokens}</td><td>{_cost(e.cost_usd)}</td>"
            f"<td>{esc(e.stop_reason)}</td><td>{esc(e.error or '')}</td>"
            f'<td><a href="{esc(e.steps_log)}">steps</a> {traj}</td>'
            "</tr>"
        )
    notes = "".join(f"<li>{esc(n)}</li>" for n in _notes(rep))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(_title(rep))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
td.ok {{ color: #1a7f37; }} td.no {{ color: #b42318; }}
.label {{ background: #fff4ce; padding: 4px 8px; display: inline-block; }}
</style></head><body>
<h1>{esc(_title(rep))}</h1>
<p class="label">{esc(rep.label)}</p>
<p>run: <code>{esc(rep.run)}</code></p>
<p class="viewer"><a href="view/index.html">Open the run viewer</a> (each step's observation,
retrieved examples, prompt and output; written by <code>lbi view {esc(rep.run)}</code>)</p>
<h2>Success by strategy</h2>
{_svg_chart(rep)}
<h2>Summary</h2>
<table class="summary"><thead><tr>{main}</tr></thead><tbody>{body}</tbody></table>
<ul>{notes}</ul>
<h2>Episodes</h2>
<table class="episodes"><thead><tr><th>strategy</th><th>task</th><th>seed</th><th>success</th>
<th>score</th><th>steps</th><th>tokens in/out</th><th>cost</th><th>stop</th><th>error</th>
<th>logs</th></tr></thead><tbody>{"".join(ep_rows)}</tbody></table>
</body></html>
"""


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def rich_table(rep: Report) -> Any:
    """The terminal table, compact enough for 80 columns; columns that say nothing for this
    run (tokens and cost of a retrieval-only run, latency without retrieval, a parse rate
    of 100 % everywhere) are left out."""
    from rich import box
    from rich.table import Table

    paired = {p.strategy: p for p in rep.paired}
    cols: list[tuple[str, list[str]]] = [
        ("strategy", [r.strategy for r in rep.strategies]),
        ("n", [str(r.episodes) for r in rep.strategies]),
        ("err", [str(r.errors) for r in rep.strategies]),
        ("success", [_pct(r.success_rate) for r in rep.strategies]),
        (
            "95% CI",
            [
                "-" if r.ci_low is None else f"{100 * r.ci_low:.0f}–{100 * (r.ci_high or 0):.0f}%"
                for r in rep.strategies
            ],
        ),
        ("score", [_num(r.mean_score) for r in rep.strategies]),
        ("steps", [_num(r.mean_steps, 1) for r in rep.strategies]),
        (
            "parsed/valid",
            [
                "-" if r.parsed_rate is None else f"{_pct(r.parsed_rate)}/{_pct(r.valid_rate)}"
                for r in rep.strategies
            ],
        ),
        (
            "tokens/ep",
            [
                "-"
                if r.input_tokens_per_episode is None
                else f"{r.input_tokens_per_episode + (r.output_tokens_per_episode or 0):.0f}"
                for r in rep.strategies
            ],
        ),
        ("$/ep", [_cost(r.cost_per_episode_usd) for r in rep.strategies]),
        (
            "retr ms",
            [
                "-"
                if r.retrieval_p50_ms is None
                else f"{_ms(r.retrieval_p50_ms)}/{_ms(r.retrieval_p95_ms)}"
                for r in rep.strategies
            ],
        ),
        (
            "Δ none",
            [
                "-"
                if (p := paired.get(r.strategy)) is None or p.difference is None
                else f"{100 * p.difference:+.1f}"
                for r in rep.strategies
            ],
        ),
        (
            "p",
            [
                "-" if (p := paired.get(r.strategy)) is None else f"{p.p_value:.2g}"
                for r in rep.strategies
            ],
        ),
    ]
    empty = {"-", "0", "$0.0000", "0.0/0.0", "0.0"}
    always = {"strategy", "n", "success"}
    t = Table(
        title=_title(rep),
        caption="; ".join(_notes(rep)),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # every answer parsed and valid (always so for the retrieval-only policy): the md /
    # html reports keep the column, the 80-column terminal table has no room for it
    empty_in = {"parsed/valid": {"100.0%/100.0%"}}
    kept = [
        (h, v)
        for h, v in cols
        if h in always or any(x not in empty | empty_in.get(h, set()) for x in v)
    ]
    for i, (h, _) in enumerate(kept):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for row in zip(*(v for _, v in kept), strict=True):
        t.add_row(*row)
    return t


def report(run_dir: str | Path, fmt: Format = "md") -> str:
    """Render a run's report; `html` is also written to <run>/report.html."""
    rep = build_report(run_dir)
    if fmt == "md":
        return to_markdown(rep)
    if fmt == "csv":
        return to_csv(rep)
    if fmt == "json":
        return to_json(rep)
    if fmt == "html":
        text = to_html(rep)
        atomic_write_text(Path(run_dir) / "report.html", text)
        return text
    raise ValueError(f"unknown report format {fmt!r}; choose md, csv, json or html")
