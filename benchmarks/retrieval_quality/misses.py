"""Where a strategy loses on a held-out set: every miss classified by what the index could
have shown, per task type and step position, with examples.

    python benchmarks/retrieval_quality/misses.py INDEX HELDOUT.jsonl \\
        [--strategy history] [-k 5] [--examples 12] [--set KEY=JSON ...] [--json OUT]

Per held-out step (offline, no LLM) the gold next action is looked up in the index's
action table (`lbi_icl.retrieval.action_table`):

- `absent`: no step of any example takes that action (no retriever can hit it);
- `other types only`: only examples of other task types take it;
- `same type`: examples of the held-out task's own type take it — a retrieval miss;
  `same type, after last action`: and one of them right after the agent's last action
  (the history alignment's own candidates).

Prints: hit@k and the miss classes per task type and per position (first 5 / middle /
last 5), then `--examples` sampled misses of class `same type` with what was retrieved.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

CLASSES = ("hit", "same type, after last action", "same type", "other types only", "absent")


def classify(index: Any, table: Any, label_code: int | None, gold: str, last: str | None) -> str:
    import numpy as np

    code = table.code_of(gold)
    if code < 0:
        return "absent"
    rows = table.rows_of_code(code)
    if label_code is None:
        return "other types only"
    labels = np.asarray(index.meta_column("label"))[np.asarray(index.step_example[rows])]
    same = rows[labels == label_code]
    if not len(same):
        return "other types only"
    if last is not None:
        after = table.rows_after(last)
        if len(np.intersect1d(after, same)):
            return "same type, after last action"
    return "same type"


def main(argv: list[str] | None = None) -> int:
    from lbi_icl.data import Task
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.index import load_index
    from lbi_icl.index.write import task_label
    from lbi_icl.retrieval import make_retriever
    from lbi_icl.retrieval.action_table import action_table
    from lbi_icl.retrieval.base import StepContext
    from lbi_icl.retrieval.breakdown import position_group
    from lbi_icl.retrieval.config import RetrievalConfig
    from lbi_icl.retrieval.evaluate import exact_action, predicted_action, strategy_config
    from lbi_icl.runner.config import _set_dotted

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("index", type=Path)
    p.add_argument("heldout", type=Path)
    p.add_argument("--strategy", default="history")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--examples", type=int, default=12)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    fields: dict[str, Any] = {}
    for kv in args.set:
        key, _, value = kv.partition("=")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        _set_dotted(fields, key.removeprefix("retrieval."), parsed)
    config = strategy_config(RetrievalConfig.model_validate(fields), args.strategy, args.k)
    index = load_index(args.index)
    index.warm(dense=True)
    table = action_table(index)
    retriever = make_retriever(args.strategy, index, config)
    trajs = list(read_trajectories(args.heldout))
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    by_pos: dict[str, Counter[str]] = defaultdict(Counter)
    samples: list[dict[str, Any]] = []
    for traj in trajs:
        retriever.reset(
            Task(id=traj.task_id or traj.id, env=traj.env, instruction=traj.instruction)
        )
        label = task_label(traj.task_id, traj.metadata) or "(none)"
        code = index.meta_code("label", label)
        for i, step in enumerate(traj.steps):
            ctx = StepContext.at(traj, i)
            items = retriever.retrieve(ctx, None).items[: args.k]
            preds = [predicted_action(it) for it in items]
            gold = exact_action(step.action)
            hit = any(pr is not None and exact_action(pr) == gold for pr in preds)
            last = traj.steps[i - 1].action if i else None
            cls = "hit" if hit else classify(index, table, code, step.action, last)
            pos = position_group(i, len(traj.steps))
            by_type[label][cls] += 1
            by_pos[pos][cls] += 1
            if cls.startswith("same type"):
                samples.append(
                    {
                        "task": traj.task_id,
                        "step": i,
                        "of": len(traj.steps),
                        "class": cls,
                        "last_action": last,
                        "gold": gold,
                        "retrieved": [
                            {"id": it.id, "action": pr, "score": round(it.score, 3)}
                            for it, pr in zip(items, preds, strict=True)
                        ],
                        "observation": step.observation[:160],
                    }
                )

    def show(title: str, groups: dict[str, Counter[str]]) -> None:
        print(f"\n## {title}\n")
        print("| group | steps | hit@k % | " + " | ".join(CLASSES[1:]) + " |")
        print("|---" * (3 + len(CLASSES) - 1) + "|")
        for g, c in groups.items():
            n = sum(c.values())
            cells = " | ".join(f"{c[x]} ({100 * c[x] / n:.0f} %)" for x in CLASSES[1:])
            print(f"| {g} | {n} | {100 * c['hit'] / n:.1f} | {cells} |")

    total: Counter[str] = Counter()
    for c in by_type.values():
        total.update(c)
    n = sum(total.values())
    print(f"{args.strategy} on {n} steps of {len(trajs)} trajectories, k = {args.k}:")
    print("  " + ", ".join(f"{x} {total[x]} ({100 * total[x] / n:.1f} %)" for x in CLASSES))
    show(
        "by step position",
        {p_: by_pos[p_] for p_ in ("first 5", "middle", "last 5") if p_ in by_pos},
    )
    show("by task type", dict(sorted(by_type.items())))
    rng = random.Random(0)
    picked = rng.sample(samples, min(args.examples, len(samples)))
    print(f"\n## {len(picked)} sampled misses of class 'same type*'\n")
    for s in picked:
        print(
            f"- {s['task']} step {s['step']}/{s['of']} ({s['class']}): gold `{s['gold']}`, "
            f"after `{s['last_action']}`; retrieved: "
            + ", ".join(f"`{r['action']}`" for r in s["retrieved"])
        )
    if args.json:
        out = {
            "strategy": args.strategy,
            "k": args.k,
            "total": dict(total),
            "by_type": {k: dict(v) for k, v in by_type.items()},
            "by_position": {k: dict(v) for k, v in by_pos.items()},
            "misses": samples,
        }
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
