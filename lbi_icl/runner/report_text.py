"""`lbi report` as text: the shared table cells, markdown, CSV, JSON and the terminal
(`rich`) table."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from lbi_icl.runner.report_data import Report, StrategyRow


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
    cache = _has_cache_tokens(rep)
    if cache:  # only runs that used a provider's prompt cache get the column
        head.insert(head.index("cost per ep"), "cache read/write per ep")
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
        if cache:
            rows[-1].insert(head.index("cache read/write per ep"), _cache_cell(r))
    return head, rows


def _has_cache_tokens(rep: Report) -> bool:
    return any(
        (r.cache_read_tokens_per_episode or 0) + (r.cache_write_tokens_per_episode or 0) > 0
        for r in rep.strategies
    )


def _cache_cell(r: StrategyRow) -> str:
    if r.cache_read_tokens_per_episode is None:
        return "-"
    return f"{r.cache_read_tokens_per_episode:.0f}/{r.cache_write_tokens_per_episode or 0:.0f}"


def _title(rep: Report) -> str:
    where = " / ".join(x for x in (rep.env, rep.split) if x)
    return f"{where} — {rep.label}" if where else rep.label


_LAYOUTS = {
    "stable_first": "objective first, then the per-step parts (examples, history, "
    "observation): system + objective are the prefix the prompt cache holds",
    "examples_first": "the paper's: retrieved examples before the objective",
}


def _layout_note(rep: Report) -> str | None:
    if rep.prompt_layout is None:
        return None
    if rep.prompt_layout == "custom":
        return f"prompt layout: the run's own agent_user template ({rep.prompt_layout_source})"
    what = _LAYOUTS.get(rep.prompt_layout)
    return f"prompt layout: {rep.prompt_layout}" + (f" ({what})" if what else "")


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
    layout = _layout_note(rep)
    if layout:
        notes.append(layout)
    if _has_cache_tokens(rep):
        notes.append(
            "cache read/write: prompt tokens per episode read from / written to the "
            "provider's prompt cache, parts of tokens in, billed at the cache prices "
            "(Anthropic: read 0.1x, write 1.25x input; OpenAI: the model's cached-input price)"
        )
    return [*rep.run_notes, *(f"{rep.env}: {n}" for n in rep.env_notes), *notes]


def to_markdown(rep: Report) -> str:
    head, rows = table_rows(rep)
    out = [f"# {_title(rep)}", "", f"run: `{rep.run}`", ""]
    if rep.protocol:  # the evaluation protocol and its values (web envs)
        out[-1:] = ["", f"{rep.protocol}", ""]
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
        ("cached/ep", [_cache_cell(r) for r in rep.strategies]),
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
    empty = {"-", "0", "$0.0000", "0.0/0.0", "0.0", "0/0"}
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
