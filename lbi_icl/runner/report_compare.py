"""`lbi report A B`: two run directories compared on their shared (task, seed) pairs.

The one place that says how two runs pair up (the viewer's comparison page uses the same
rule on the outcome table `outcome_table` writes, see lbi_icl/view/multi.py):

- an episode is *finished* when it ended without an infrastructure error
  (`results.is_finished`); errored episodes are excluded and counted;
- a (task, seed) pair is *shared* when run A's episode (strategy SA) and run B's episode
  (strategy SB) are both finished; success rates are over the shared pairs only;
- each shared pair is both solved / only A / only B / neither; the exact McNemar test
  (`significance.mcnemar_exact`, the same test `lbi report` uses against `none`) runs on
  the two discordant counts;
- finished episodes without a finished counterpart in the other run are *not shared*:
  counted per side and said so, never compared.

Strategies pair by name (every strategy both runs have), or as given (`--pair SA:SB`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lbi_icl.runner import significance as stats
from lbi_icl.runner.config import KNOWN_STRATEGIES
from lbi_icl.runner.report_data import policy_label, prompt_layout_of, protocol_mismatch
from lbi_icl.runner.results import is_finished
from lbi_icl.runner.runlog import EpisodeRecord, latest_records, read_manifest, require_run_dir

SOLVED, FAILED, ERROR = 1, 0, -1
Key = tuple[str, int]


def outcome(rec: EpisodeRecord) -> int:
    """1 solved, 0 failed (finished), -1 ended in an infrastructure error."""
    if not is_finished(rec):
        return ERROR
    return SOLVED if rec.success else FAILED


class ComparisonRow(BaseModel):
    """Run A's strategy `strategy_a` against run B's `strategy_b` on their shared pairs."""

    strategy_a: str
    strategy_b: str
    pairs: int  # shared (task, seed) pairs: finished in both runs
    a_rate: float | None
    b_rate: float | None
    difference: float | None  # a_rate - b_rate
    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float  # exact McNemar on only_a vs only_b
    a_not_shared: int  # finished in A, no finished counterpart in B
    b_not_shared: int
    a_errors: int  # ended in an error: excluded
    b_errors: int


class Comparison(BaseModel):
    run_a: str
    run_b: str
    label_a: str
    label_b: str
    env_a: str | None
    env_b: str | None
    split_a: str | None = None
    split_b: str | None = None
    rows: list[ComparisonRow]
    notes: list[str] = Field(default_factory=list)


def pair_counts(a: dict[Key, int], b: dict[Key, int]) -> tuple[list[Key], dict[str, int]]:
    """Shared keys (sorted) and the counts, from outcome codes per (task, seed)."""
    a_fin = {k for k, v in a.items() if v != ERROR}
    b_fin = {k for k, v in b.items() if v != ERROR}
    shared = sorted(a_fin & b_fin)
    c = {"both": 0, "only_a": 0, "only_b": 0, "neither": 0}
    for k in shared:
        sa, sb = a[k] == SOLVED, b[k] == SOLVED
        c["both" if sa and sb else "only_a" if sa else "only_b" if sb else "neither"] += 1
    c["a_not_shared"] = len(a_fin) - len(shared)
    c["b_not_shared"] = len(b_fin) - len(shared)
    c["a_errors"] = len(a) - len(a_fin)
    c["b_errors"] = len(b) - len(b_fin)
    return shared, c


def outcomes_of(records: Iterable[EpisodeRecord], strategy: str) -> dict[Key, int]:
    return {(r.task_id, r.seed): outcome(r) for r in records if r.strategy == strategy}


def compare_records(
    a: Iterable[EpisodeRecord], strategy_a: str, b: Iterable[EpisodeRecord], strategy_b: str
) -> ComparisonRow:
    shared, c = pair_counts(outcomes_of(a, strategy_a), outcomes_of(b, strategy_b))
    n = len(shared)
    a_rate = (c["both"] + c["only_a"]) / n if n else None
    b_rate = (c["both"] + c["only_b"]) / n if n else None
    return ComparisonRow(
        strategy_a=strategy_a,
        strategy_b=strategy_b,
        pairs=n,
        a_rate=a_rate,
        b_rate=b_rate,
        difference=None if a_rate is None or b_rate is None else a_rate - b_rate,
        p_value=stats.mcnemar_exact(c["only_a"], c["only_b"]),
        **c,
    )


def _order(found: set[str], configured: list[str]) -> list[str]:
    rank = {s: i for i, s in enumerate([*configured, *KNOWN_STRATEGIES])}
    return sorted(found, key=lambda s: (rank.get(s, len(rank)), s))


def compare_runs(
    run_a: str | Path, run_b: str | Path, pairs: list[tuple[str, str]] | None = None
) -> Comparison:
    """Compare two run directories; `pairs` (SA, SB) default to the strategies both have.
    ValueError when a named strategy is missing or the runs share no strategy name."""
    runs = [require_run_dir(run_a), require_run_dir(run_b)]
    manifests = [read_manifest(r) or {} for r in runs]
    why = protocol_mismatch(*manifests)
    if why is not None:  # other seeds, step limits or action sets: pairs would mislead
        raise ValueError(f"{runs[0]} and {runs[1]} are not paired: {why}")
    recs = [list(latest_records(r).values()) for r in runs]
    cfgs = [m.get("config") or {} for m in manifests]
    have = [{r.strategy for r in rs} for rs in recs]
    if pairs:
        for sa, sb in pairs:
            for side, s, h, run in (("A", sa, have[0], runs[0]), ("B", sb, have[1], runs[1])):
                if s not in h:
                    got = ", ".join(sorted(h)) or "none yet"
                    raise ValueError(f"run {side} ({run}) has no strategy {s!r} (it has: {got})")
    else:
        common = _order(have[0] & have[1], list(cfgs[0].get("strategies") or []))
        if not common:
            raise ValueError(
                f"{runs[0]} ({', '.join(sorted(have[0])) or 'no episodes'}) and {runs[1]} "
                f"({', '.join(sorted(have[1])) or 'no episodes'}) share no strategy name; "
                "name the pairs with --pair A_STRATEGY:B_STRATEGY"
            )
        pairs = [(s, s) for s in common]
    rows = [compare_records(recs[0], sa, recs[1], sb) for sa, sb in pairs]
    labels, layouts = [], []
    for cfg, rs, manifest in zip(cfgs, recs, manifests, strict=True):
        policies = {r.policy for r in rs}
        policy = cfg.get("policy") or (next(iter(policies)) if len(policies) == 1 else None)
        labels.append(policy_label(policy, cfg.get("llm")))
        layouts.append(prompt_layout_of(manifest, policy)[0])
    notes = [
        "rates are over the shared (task, seed) pairs: finished in both runs; "
        "p: exact McNemar test on only A vs only B"
    ]
    envs = [c.get("env") for c in cfgs]
    if envs[0] != envs[1]:
        notes.append(f"the runs are on different environments ({envs[0]} vs {envs[1]})")
    splits = [c.get("split") for c in cfgs]
    if splits[0] != splits[1]:
        notes.append(f"the runs are on different splits ({splits[0]} vs {splits[1]})")
    if layouts[0] != layouts[1] and None not in layouts:
        notes.append(f"the runs use different prompt layouts ({layouts[0]} vs {layouts[1]})")
    for r in rows:
        name = r.strategy_a if r.strategy_a == r.strategy_b else f"{r.strategy_a}:{r.strategy_b}"
        if r.a_not_shared or r.b_not_shared:
            notes.append(
                f"{name}: not shared, so not compared: {r.a_not_shared} finished episode(s) "
                f"of A, {r.b_not_shared} of B"
            )
        if r.a_errors or r.b_errors:
            notes.append(
                f"{name}: ended in an error, excluded: {r.a_errors} of A, {r.b_errors} of B"
            )
        if not r.pairs:
            notes.append(f"{name}: no shared (task, seed) pairs")
    return Comparison(
        run_a=str(runs[0]),
        run_b=str(runs[1]),
        label_a=labels[0],
        label_b=labels[1],
        env_a=envs[0],
        env_b=envs[1],
        split_a=splits[0],
        split_b=splits[1],
        rows=rows,
        notes=notes,
    )


# ------------------------------------------------------------------------------ output


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


HEAD = [
    "strategy A:B",
    "pairs",
    "A success",
    "B success",
    "A − B",
    "both",
    "only A",
    "only B",
    "neither",
    "p (McNemar)",
    "not shared A/B",
    "errors A/B",
]


def comparison_rows(cmp: Comparison) -> list[list[str]]:
    out = []
    for r in cmp.rows:
        name = r.strategy_a if r.strategy_a == r.strategy_b else f"{r.strategy_a}:{r.strategy_b}"
        diff = "-" if r.difference is None else f"{100 * r.difference:+.1f} pts"
        out.append(
            [
                name,
                str(r.pairs),
                _pct(r.a_rate),
                _pct(r.b_rate),
                diff,
                str(r.both),
                str(r.only_a),
                str(r.only_b),
                str(r.neither),
                f"{r.p_value:.3g}",
                f"{r.a_not_shared}/{r.b_not_shared}",
                f"{r.a_errors}/{r.b_errors}",
            ]
        )
    return out


def _runs_lines(cmp: Comparison) -> list[str]:
    where = [
        " / ".join(x for x in (e, s) if x)
        for e, s in ((cmp.env_a, cmp.split_a), (cmp.env_b, cmp.split_b))
    ]
    return [
        f"A: {cmp.run_a} ({where[0] or '?'}; {cmp.label_a})",
        f"B: {cmp.run_b} ({where[1] or '?'}; {cmp.label_b})",
    ]


def comparison_markdown(cmp: Comparison) -> str:
    out = ["# Comparison of two runs on shared (task, seed) pairs", ""]
    out += [f"- {line}" for line in _runs_lines(cmp)]
    out += ["", "| " + " | ".join(HEAD) + " |", "|" + "|".join("---" for _ in HEAD) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in comparison_rows(cmp)]
    out.append("")
    out += [f"- {n}" for n in cmp.notes]
    return "\n".join(out) + "\n"


def comparison_json(cmp: Comparison) -> str:
    return json.dumps(json.loads(cmp.model_dump_json()), indent=2) + "\n"


def comparison_csv(cmp: Comparison) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(ComparisonRow.model_fields), lineterminator="\n")
    w.writeheader()
    for r in cmp.rows:
        w.writerow(r.model_dump())
    return buf.getvalue()


TERM_HEAD = [
    "strategy",
    "pairs",
    "A",
    "B",
    "A−B",
    "both",
    "A\nonly",
    "B\nonly",
    "neither",
    "p",
    "not\nshared",
    "errors",
]
TERM_LEGEND = (
    "A, B: success on the shared pairs; A−B: points; not shared, errors: A/B episodes left out"
)


def comparison_table(cmp: Comparison) -> Any:
    """The terminal table, short headers with a legend (print it with commands/tables.py
    `print_table`)."""
    from rich import box
    from rich.table import Table

    t = Table(
        title="\n".join(_runs_lines(cmp)),
        caption="; ".join([TERM_LEGEND, *cmp.notes]),
        caption_justify="left",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=0,  # the box's blank column divider is the gap
    )
    for i, h in enumerate(TERM_HEAD):
        t.add_column(h, justify="left" if i == 0 else "right")
    for row in comparison_rows(cmp):
        t.add_row(*[c.removesuffix(" pts") for c in row])
    return t


def render_comparison(cmp: Comparison, fmt: str) -> str:
    if fmt == "md":
        return comparison_markdown(cmp)
    if fmt == "json":
        return comparison_json(cmp)
    if fmt == "csv":
        return comparison_csv(cmp)
    raise ValueError(f"a comparison of two runs is written as md, csv or json, not {fmt!r}")
