"""Retrieval quality per strategy x environment (issue 12): offline hit@k with 95% cluster-
bootstrap intervals and paired differences against agentic, plus (optionally) the
retrieval-only policy's success on live tasks read from `lbi ablate` run directories and
the step latency at 1M pairs read from a `benchmarks/retrieval/bench.py --json` file.

    python benchmarks/retrieval_quality/run.py \\
        --case scienceworld INDEX HELDOUT.jsonl --case babyai INDEX HELDOUT.jsonl \\
        [--live scienceworld RUN_DIR] [--latency BENCH.json] [--json OUT.json] [--md OUT.md]
    python benchmarks/retrieval_quality/run.py --report scienceworld EVAL.json   # no evaluation

Prints one Markdown table (the README's) and writes the full reports as JSON. `--report`
formats a saved `lbi eval-retrieval --json` report instead (e.g. one whose `model` /
`agentic` queries a real LLM wrote).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_STRATEGIES = "instruction,observation,model,agentic,task_aware,history"


def pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def pct_ci(v: float | None, ci: list[float] | tuple[float, float] | None) -> str:
    if v is None or not ci:
        return pct(v)
    return f"{pct(v)} [{pct(ci[0])}, {pct(ci[1])}]"


def evaluate_case(
    env: str, index_dir: Path, heldout: Path, strategies: list[str], k: int, boot: int
) -> dict[str, Any]:
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.index import load_index
    from lbi_icl.retrieval.evaluate import evaluate_retrieval

    index = load_index(index_dir)
    trajs = list(read_trajectories(heldout))
    t = time.perf_counter()
    rep = evaluate_retrieval(index, trajs, strategies=strategies, k=k, bootstrap=boot)
    out = rep.model_dump(mode="json")
    out.update(env=env, heldout=str(heldout), seconds=round(time.perf_counter() - t, 1))
    return out


def live_rates(run_dir: Path) -> dict[str, dict[str, Any]]:
    from lbi_icl.runner.report import build_report

    rep = build_report(run_dir)
    return {
        r.strategy: {
            "successes": r.successes,
            "finished": r.finished,
            "rate": r.success_rate,
            "ci": (r.ci_low, r.ci_high),
        }
        for r in rep.strategies
    }


def latency_at_1m(path: Path) -> dict[str, float]:
    """strategy -> p50 ms at the largest size in a bench.py JSON file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    sizes = data.get("sizes", [])
    if not sizes:
        return {}
    last = max(sizes, key=lambda s: s.get("pairs", 0))
    strategies = last.get("serve", {}).get("strategies", {})
    return {name: s["latency"]["p50_ms"] for name, s in strategies.items()}


def live_cell(lv: dict[str, Any]) -> str:
    """'k/n [lo–hi %]' with the run report's 95% Wilson interval."""
    ci = lv.get("ci") or (None, None)
    if ci[0] is None or ci[1] is None:
        return f"{lv['successes']}/{lv['finished']}"
    return f"{lv['successes']}/{lv['finished']} [{100 * ci[0]:.0f}–{100 * ci[1]:.0f} %]"


def latency_cell(latency: dict[str, float], name: str, baseline: str = "agentic") -> str:
    """'p50 ms (ratio×)' against the baseline's p50 in the same bench run."""
    lat = latency.get(name)
    if lat is None:
        return "–"
    base = latency.get(baseline)
    return f"{lat:.1f} ({lat / base:.2f}×)" if base else f"{lat:.1f}"


def markdown(
    cases: list[dict[str, Any]],
    live: dict[str, dict[str, dict[str, Any]]],
    latency: dict[str, float],
) -> str:
    head = (
        "| env | strategy | hit@5 exact % [95% CI] | Δ exact vs agentic, points [95% CI] "
        "| hit@5 verb % | same-task P@5 % [95% CI] | p50 ms (this index) "
        "| p50 ms at 1M pairs (× agentic) | live success (retrieval-only policy) [95% CI] |"
    )
    lines = [head, "|" + "---|" * 9]
    for case in cases:
        paired = {p["strategy"]: p for p in case.get("paired", []) if p["metric"] == "hit_exact"}
        for m in case["strategies"]:
            name = m["strategy"]
            d = paired.get(name)
            delta = (
                "baseline"
                if name == case.get("baseline")
                else (
                    f"{100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"
                    if d
                    else "–"
                )
            )
            lv = live.get(case["env"], {}).get(name)
            live_txt = live_cell(lv) if lv else "–"
            lines.append(
                f"| {case['env']} | {name} | {pct_ci(m['hit_exact'], m.get('hit_exact_ci'))} "
                f"| {delta} | {pct(m['hit_verb'])} "
                f"| {pct_ci(m['same_task_precision'], m.get('same_task_precision_ci'))} "
                f"| {m['latency_p50_ms']:.1f} | {latency_cell(latency, name)} "
                f"| {live_txt} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--case",
        nargs=3,
        action="append",
        default=[],
        metavar=("ENV", "INDEX", "HELDOUT"),
        help="one environment's index and held-out trajectories (repeatable)",
    )
    p.add_argument(
        "--report",
        nargs=2,
        action="append",
        default=[],
        metavar=("ENV", "EVAL_JSON"),
        help="a saved `lbi eval-retrieval --json` report to tabulate (repeatable)",
    )
    p.add_argument("--strategies", default=DEFAULT_STRATEGIES)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--bootstrap", type=int, default=2000)
    p.add_argument("--live", nargs=2, action="append", default=[], metavar=("ENV", "RUN_DIR"))
    p.add_argument("--latency", type=Path, help="bench.py --json output (1M pairs)")
    p.add_argument("--json", type=Path, help="write every report here")
    p.add_argument("--md", type=Path, help="write the Markdown table here")
    args = p.parse_args(argv)
    if not args.case and not args.report:
        p.error("at least one --case ENV INDEX HELDOUT or --report ENV EVAL_JSON")
    strategies = [s for s in args.strategies.split(",") if s]
    cases = [
        evaluate_case(env, Path(ix), Path(ho), strategies, args.k, args.bootstrap)
        for env, ix, ho in args.case
    ]
    for env, path in args.report:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        saved.update(env=env, heldout=str(path), seconds=None)
        cases.append(saved)
    live = {env: live_rates(Path(d)) for env, d in args.live}
    latency = latency_at_1m(args.latency) if args.latency else {}
    table = markdown(cases, live, latency)
    print(table)
    for c in cases:
        print(
            f"\n{c['env']}: {c['heldout_steps']} steps of {c['heldout_trajectories']} held-out "
            f"trajectories ({c['heldout']}), index {c['index']} ({c['embedder']}), "
            f"{c['seconds']} s",
            file=sys.stderr,
        )
    if args.json:
        args.json.write_text(
            json.dumps({"cases": cases, "live": live, "latency_1m_p50_ms": latency}, indent=2)
        )
    if args.md:
        args.md.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
