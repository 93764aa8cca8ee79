"""`lbi eval-retrieval`: the offline retrieval benchmark (no LLM needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError, parse_key_values
from lbi_icl.commands.tables import print_table, table_console


def register(sub: Any) -> None:
    from lbi_icl.retrieval import STRATEGIES

    p = sub.add_parser(
        "eval-retrieval",
        help="offline retrieval quality per strategy on held-out trajectories",
    )
    p.add_argument("--index", type=Path, required=True, help="index directory")
    p.add_argument(
        "--query-embedder",
        help="embed queries with this embedder instead of the index's own, if declared "
        "compatible (e.g. minilm-openvino on a torch-built index)",
    )
    p.add_argument("--heldout", nargs="+", type=Path, required=True, metavar="FILE")
    p.add_argument(
        "--strategies",
        nargs="+",
        default=list(STRATEGIES),
        metavar="S",
        help="names, comma- or space-separated (default: all)",
    )
    p.add_argument("-k", type=int, default=5, help="examples per step for every strategy")
    p.add_argument("--max-steps", type=int, default=None, help="evaluate at most N steps")
    p.add_argument("--token-budget", type=int, default=None, help="override the 3000 default")
    p.add_argument("--no-leakage-guard", action="store_true", help="allow same-task examples")
    p.add_argument(
        "--llm", default=None, help="LLM spec for model-based queries (default: template query)"
    )
    p.add_argument(
        "--baseline", default=None, help="strategy others are paired against (default agentic)"
    )
    p.add_argument(
        "--bootstrap", type=int, default=2000, help="bootstrap replicates (0: no intervals)"
    )
    p.add_argument("--llm-base-url", default=None, help="OpenAI-compatible server URL")
    p.add_argument("--llm-cache", type=Path, default=None, help="SQLite LLM response cache")
    p.add_argument("--llm-cache-mode", choices=["rw", "off", "replay"], default="rw")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="retrieval setting, dotted as in `lbi run --set` (repeatable; VALUE is JSON "
        "when it parses), e.g. retrieval.m1=3 or retrieval.task_aware.w_task=2",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from lbi_icl.commands.index import user_errors
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.index import load_index
    from lbi_icl.retrieval.config import RetrievalConfig
    from lbi_icl.retrieval.evaluate import evaluate_retrieval
    from lbi_icl.runner.config import _set_dotted

    if args.k < 1:
        raise CLIError("-k must be at least 1")
    from lbi_icl.cli import parse_names
    from lbi_icl.retrieval import STRATEGIES

    strategies = parse_names(args.strategies, "--strategies")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise CLIError(f"--strategies: unknown {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    if args.bootstrap < 0:
        raise CLIError("--bootstrap must be 0 or more")
    if args.baseline is not None and args.baseline not in strategies:
        raise CLIError(f"--baseline {args.baseline!r} is not among --strategies")
    fields: dict[str, Any] = {}
    for key, value in parse_key_values(args.set, "--set").items():
        _set_dotted(fields, key.removeprefix("retrieval."), value)
    fields["leakage_guard"] = not args.no_leakage_guard
    if args.token_budget is not None:
        fields["token_budget"] = args.token_budget
    try:
        config = RetrievalConfig.model_validate(fields)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise CLIError(f"--set retrieval.{where}: {err['msg']}") from e
    llm = None
    if args.llm:
        from lbi_icl.llm import LLMError, make_llm

        try:
            llm = make_llm(
                args.llm,
                base_url=args.llm_base_url,
                cache_path=args.llm_cache,
                cache_mode=args.llm_cache_mode,
            )
        except LLMError as exc:
            raise CLIError(str(exc)) from None
    with user_errors():
        from lbi_icl.embed import load_embedder

        query_embedder = load_embedder(args.query_embedder) if args.query_embedder else None
        index = load_index(args.index, embedder=query_embedder)
        heldout = list(read_trajectories(*args.heldout))
        report = evaluate_retrieval(
            index,
            heldout,
            strategies=strategies,
            k=args.k,
            config=config,
            llm=llm,
            max_steps=args.max_steps,
            baseline=args.baseline,
            bootstrap=args.bootstrap,
        )
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return 0
    from rich.table import Table

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f}"

    def pct_ci(v: float | None, ci: tuple[float, float] | None) -> str:
        if v is None or ci is None:
            return pct(v)
        return f"{pct(v)} [{pct(ci[0])}, {pct(ci[1])}]"

    t = Table(
        title=f"retrieval on {report.heldout_steps} held-out steps "
        f"({report.heldout_trajectories} trajectories), k={report.k}, {report.embedder}"
    )
    for col in (
        "strategy",
        "hit@k exact % [95% CI]",
        "hit@k verb % [95% CI]",
        "MRR exact",
        "same-task P@k % [95% CI]",
        "items/step",
        "tokens/step",
        "p50 ms",
        "p95 ms",
    ):
        if col == "strategy":
            t.add_column(col, no_wrap=True, min_width=11)
        else:
            t.add_column(col, justify="right")
    for m in report.strategies:
        t.add_row(
            m.strategy,
            pct_ci(m.hit_exact, m.hit_exact_ci),
            pct_ci(m.hit_verb, m.hit_verb_ci),
            "–" if m.mrr_exact is None else f"{m.mrr_exact:.3f}",
            pct_ci(m.same_task_precision, m.same_task_precision_ci),
            f"{m.items_per_step:.1f}",
            f"{m.tokens_per_step:.0f}",
            f"{m.latency_p50_ms:.2f}",
            f"{m.latency_p95_ms:.2f}",
        )
    console = table_console()
    print_table(t, console=console)
    if report.paired:
        pt = Table(
            title=f"paired differences vs {report.baseline} (points, 95% bootstrap CI over "
            f"trajectories, {report.bootstrap} replicates)"
        )
        for col in ("strategy", "metric", "diff", "95% CI", "CI excludes 0"):
            pt.add_column(col, justify="left" if col in ("strategy", "metric") else "right")
        for d in report.paired:
            pt.add_row(
                d.strategy,
                d.metric,
                f"{100 * d.diff:+.1f}",
                f"[{100 * d.ci_low:+.1f}, {100 * d.ci_high:+.1f}]",
                "yes" if d.excludes_zero else "no",
            )
        print_table(pt, console=console)
    print_breakdowns(report, console)
    for m in report.strategies:
        if any(w.startswith("llm:") for w in m.query_writers):
            print(f"{m.strategy}: query writers {m.query_writers}; e.g. {m.query_samples[:2]}")
    if report.heldout_ids_in_index:
        print(f"warning: {report.heldout_ids_in_index} held-out trajectories are in the index")
    return 0


def print_breakdowns(report: Any, console: Any) -> None:
    """Hit@k exact per step position, replay flag and task type (one column per strategy;
    Δ = paired difference against the baseline on the same steps), then the held-out task
    types the index lacks examples for."""
    from rich.table import Table

    from lbi_icl.commands.tables import print_text

    strategies = list(dict.fromkeys(g.strategy for g in report.breakdowns))
    cells = {(g.by, g.group, g.strategy): g for g in report.breakdowns}
    base = report.baseline

    def cell(g: Any, with_diff: bool) -> str:
        text = f"{100 * g.hit_exact:.1f}"
        if with_diff and g.diff_exact is not None:
            text += f" ({100 * g.diff_exact:+.1f}"
            if g.diff_exact_ci is not None:
                lo, hi = g.diff_exact_ci
                text += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
            text += ")"
        return text

    coverage = {c.task_type: c for c in report.coverage}
    for by, title in (
        ("position", "by step position (first 5 / middle / last 5 steps of each trajectory)"),
        ("replayed", "by expert replay (held-out trajectories the replay solved or not)"),
        ("task_type", "by task type"),
    ):
        groups = list(dict.fromkeys(g.group for g in report.breakdowns if g.by == by))
        if not groups:
            continue
        detail = by != "task_type"
        t = Table(
            title=f"hit@{report.k} exact % {title}"
            + (f"; (Δ vs {base}, points [95% CI])" if detail and base else "")
        )
        t.add_column(by.replace("_", " "), justify="left")
        t.add_column("steps", justify="right")
        t.add_column("trajectories", justify="right")
        if by == "task_type":
            t.add_column("index examples", justify="right")
        for s in strategies:
            t.add_column(s, justify="right")
        for group in groups:
            first = cells[(by, group, strategies[0])]
            row = [group, str(first.steps), str(first.trajectories)]
            if by == "task_type":
                cov = coverage.get(group)
                row.append("–" if cov is None else str(cov.index_examples))
            row += [cell(cells[(by, group, s)], detail and s != base) for s in strategies]
            t.add_row(*row)
        print_table(t, console=console)
    if report.coverage:
        missing = report.missing_types
        print_text(
            "held-out task types the index lacks examples for: "
            + (", ".join(missing) if missing else "none")
            + f" ({len(missing)} of {len(report.coverage)})"
        )
