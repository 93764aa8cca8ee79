"""Paired comparison of two indexes on one held-out set (issue 12's failed-steps decision):
every strategy's hit@k exact on index A and on index B, each with its 95% cluster-bootstrap
interval, and the paired difference B - A on the same held-out steps with its interval.

    python benchmarks/retrieval_quality/compare_indexes.py INDEX_A INDEX_B HELDOUT.jsonl \\
        [--strategies observation,agentic,task_aware,history] [--k 5] [--json OUT.json]

Offline, no LLM (template queries). Used on DEV sets only for decisions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def step_clusters(trajs: list[Any]) -> list[int]:
    """The held-out trajectory of every evaluated step, in evaluation order."""
    return [t_no for t_no, t in enumerate(trajs) for _ in t.steps]


def compare(
    index_a: Path, index_b: Path, heldout: Path, strategies: list[str], k: int, boot: int
) -> dict[str, Any]:
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.index import load_index
    from lbi_icl.retrieval.bootstrap import paired_difference
    from lbi_icl.retrieval.evaluate import evaluate_retrieval

    trajs = list(read_trajectories(heldout))
    clusters = step_clusters(trajs)
    reports = {}
    for name, path in (("a", index_a), ("b", index_b)):
        rep = evaluate_retrieval(
            load_index(path), trajs, strategies=strategies, k=k, bootstrap=boot
        )
        reports[name] = {m.strategy: m for m in rep.strategies}
    rows = []
    for s in strategies:
        ma, mb = reports["a"][s], reports["b"][s]
        hits_a = [1.0 if r else 0.0 for r in ma.first_exact_ranks]
        hits_b = [1.0 if r else 0.0 for r in mb.first_exact_ranks]
        diff = paired_difference(hits_b, hits_a, clusters, n_boot=boot)
        rows.append(
            {
                "strategy": s,
                "a": ma.hit_exact,
                "a_ci": ma.hit_exact_ci,
                "b": mb.hit_exact,
                "b_ci": mb.hit_exact_ci,
                "diff_b_minus_a": diff,
                "same_task_a": ma.same_task_precision,
                "same_task_b": mb.same_task_precision,
            }
        )
    return {
        "index_a": str(index_a),
        "index_b": str(index_b),
        "heldout": str(heldout),
        "steps": len(clusters),
        "k": k,
        "rows": rows,
    }


def fmt(v: float | None, ci: Any = None) -> str:
    if v is None:
        return "–"
    s = f"{100 * v:.1f}"
    return f"{s} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_a", type=Path)
    ap.add_argument("index_b", type=Path)
    ap.add_argument("heldout", type=Path)
    ap.add_argument("--strategies", default="observation,agentic,task_aware,history")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    out = compare(a.index_a, a.index_b, a.heldout, a.strategies.split(","), a.k, a.bootstrap)
    print(f"{out['steps']} steps; A = {a.index_a}, B = {a.index_b}")
    print("| strategy | A hit@k exact % | B hit@k exact % | B - A, points | same-task A / B % |")
    print("|---|---|---|---|---|")
    for r in out["rows"]:
        d = r["diff_b_minus_a"]
        diff = "–" if d is None else f"{100 * d[0]:+.1f} [{100 * d[1]:+.1f}, {100 * d[2]:+.1f}]"
        print(
            f"| {r['strategy']} | {fmt(r['a'], r['a_ci'])} | {fmt(r['b'], r['b_ci'])} | {diff} "
            f"| {fmt(r['same_task_a'])} / {fmt(r['same_task_b'])} |"
        )
    if a.json is not None:
        a.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
