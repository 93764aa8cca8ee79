"""`lbi eval-retrieval`: the offline retrieval benchmark (no LLM needed)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError


def register(sub: Any) -> None:
    from lbi_icl.retrieval import STRATEGIES

    p = sub.add_parser(
        "eval-retrieval",
        help="offline retrieval quality per strategy on held-out trajectories",
    )
    p.add_argument("--index", type=Path, required=True, help="index directory")
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
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    from lbi_icl.commands.index import user_errors
    from lbi_icl.index import load_index
    from lbi_icl.jsonl import read_trajectories
    from lbi_icl.retrieval.config import RetrievalConfig
    from lbi_icl.retrieval.evaluate import evaluate_retrieval

    if args.k < 1:
        raise CLIError("-k must be at least 1")
    from lbi_icl.cli import parse_names
    from lbi_icl.retrieval import STRATEGIES

    strategies = parse_names(args.strategies, "--strategies")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise CLIError(f"--strategies: unknown {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    update: dict[str, Any] = {"leakage_guard": not args.no_leakage_guard}
    if args.token_budget is not None:
        update["token_budget"] = args.token_budget
    config = RetrievalConfig().model_copy(update=update)
    llm = None
    if args.llm:
        from lbi_icl.llm import make_llm

        llm = make_llm(args.llm)
    with user_errors():
        index = load_index(args.index)
        heldout = list(read_trajectories(*args.heldout))
        report = evaluate_retrieval(
            index,
            heldout,
            strategies=strategies,
            k=args.k,
            config=config,
            llm=llm,
            max_steps=args.max_steps,
        )
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{100 * v:.1f}"

    t = Table(
        title=f"retrieval on {report.heldout_steps} held-out steps "
        f"({report.heldout_trajectories} trajectories), k={report.k}, {report.embedder}"
    )
    for col in (
        "strategy",
        "hit@k exact %",
        "hit@k verb %",
        "MRR exact",
        "same-task P@k %",
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
            pct(m.hit_exact),
            pct(m.hit_verb),
            "–" if m.mrr_exact is None else f"{m.mrr_exact:.3f}",
            pct(m.same_task_precision),
            f"{m.items_per_step:.1f}",
            f"{m.tokens_per_step:.0f}",
            f"{m.latency_p50_ms:.2f}",
            f"{m.latency_p95_ms:.2f}",
        )
    Console().print(t)
    if report.heldout_ids_in_index:
        print(f"warning: {report.heldout_ids_in_index} held-out trajectories are in the index")
    return 0
