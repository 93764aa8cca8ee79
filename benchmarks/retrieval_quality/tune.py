"""Weight search for the fused strategies on DEV held-out sets only (never on test).

    python benchmarks/retrieval_quality/tune.py --case scienceworld INDEX DEV.jsonl \\
        [--case babyai INDEX DEV.jsonl] [--strategy history] [--grid small|wide]

Each setting is evaluated with `evaluate_retrieval` (k = 5, no bootstrap) on every case;
prints one line per setting (hit@5 exact / same-task precision per case and their mean
exact hit) so the chosen defaults in `lbi_icl/retrieval/fused_config.py` can be traced.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any


def grid(kind: str, strategy: str) -> list[dict[str, Any]]:
    if kind == "small":
        axes: dict[str, list[Any]] = {
            "w_instruction": [0.0, 1.0],
            "w_task": [0.0, 1.0, 2.0],
            "w_ground": [0.0, 0.5],
        }
    else:
        axes = {
            "w_instruction": [0.0, 0.5, 1.0, 2.0],
            "w_task": [0.0, 1.0, 2.0, 4.0],
            "w_ground": [0.0, 0.25, 0.5, 1.0],
        }
    if strategy == "history":
        axes["w_history"] = [0.5, 1.0, 2.0] if kind == "wide" else [0.0, 1.0]
    keys = list(axes)
    return [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*axes.values())]


def main(argv: list[str] | None = None) -> int:
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.index import load_index
    from lbi_icl.retrieval.config import RetrievalConfig
    from lbi_icl.retrieval.evaluate import evaluate_retrieval

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--case", nargs=3, action="append", required=True, metavar=("ENV", "IX", "DEV"))
    p.add_argument("--strategy", default="history", choices=["task_aware", "history"])
    p.add_argument("--grid", default="small", choices=["small", "wide"])
    p.add_argument("--set", action="append", default=[], metavar="JSON", help="extra settings")
    p.add_argument("--max-steps", type=int, default=None)
    args = p.parse_args(argv)
    import json

    cases = [
        (env, load_index(ix), list(read_trajectories(dev)))
        for env, ix, dev in args.case
        if "test" not in Path(dev).name  # tuning never reads a test set
    ]
    settings = [json.loads(s) for s in args.set] or grid(args.grid, args.strategy)
    for s in settings:
        cfg = RetrievalConfig.model_validate({args.strategy: s})
        parts, exact = [], []
        for env, index, dev in cases:
            rep = evaluate_retrieval(
                index,
                dev,
                strategies=[args.strategy],
                config=cfg,
                bootstrap=0,
                max_steps=args.max_steps,
            )
            m = rep.strategies[0]
            exact.append(m.hit_exact or 0.0)
            parts.append(
                f"{env} exact {100 * (m.hit_exact or 0):.1f} "
                f"same-task {100 * (m.same_task_precision or 0):.1f}"
            )
        mean = 100 * sum(exact) / len(exact)
        print(f"{json.dumps(s, sort_keys=True)}\t{' | '.join(parts)}\tmean {mean:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
