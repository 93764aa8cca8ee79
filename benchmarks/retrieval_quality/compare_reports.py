"""Paired difference between two saved `lbi eval-retrieval --json` reports of the same
held-out steps (e.g. one strategy with default and with other `--set` settings, or with
template vs model-written queries): hit@k exact of STRATEGY in B minus A, per step, with
its 95% cluster-bootstrap interval (trajectories resampled).

    python benchmarks/retrieval_quality/compare_reports.py A.json B.json HELDOUT.jsonl \\
        [--strategy history] [--strategy-b NAME] [--bootstrap 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def hits(report: dict[str, Any], strategy: str, path: Path) -> list[float]:
    for m in report["strategies"]:
        if m["strategy"] == strategy:
            return [1.0 if r else 0.0 for r in m["first_exact_ranks"]]
    raise SystemExit(f"{path}: no strategy {strategy!r} in the report")


def main(argv: list[str] | None = None) -> int:
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.retrieval.bootstrap import paired_difference

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("heldout", type=Path)
    ap.add_argument("--strategy", default="history")
    ap.add_argument("--strategy-b", default=None, help="B's strategy (default: --strategy)")
    ap.add_argument("--bootstrap", type=int, default=2000)
    a = ap.parse_args(argv)
    ra = json.loads(a.a.read_text(encoding="utf-8"))
    rb = json.loads(a.b.read_text(encoding="utf-8"))
    ha = hits(ra, a.strategy, a.a)
    hb = hits(rb, a.strategy_b or a.strategy, a.b)
    clusters = [t_no for t_no, t in enumerate(read_trajectories(a.heldout)) for _ in t.steps]
    if not (len(ha) == len(hb) == len(clusters)):
        raise SystemExit(
            f"step counts differ: A {len(ha)}, B {len(hb)}, {a.heldout} {len(clusters)} "
            "(reports of the same held-out file, without --max-steps, are needed)"
        )
    d = paired_difference(hb, ha, clusters, n_boot=a.bootstrap)
    mean_a, mean_b = 100 * sum(ha) / len(ha), 100 * sum(hb) / len(hb)
    print(
        f"{len(ha)} steps: A {mean_a:.1f} %, B {mean_b:.1f} %, B - A "
        f"{100 * d[0]:+.1f} [{100 * d[1]:+.1f}, {100 * d[2]:+.1f}] points"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
