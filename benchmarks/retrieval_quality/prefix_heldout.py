"""Keep the first K steps of every held-out trajectory (a cheap subset for the runs that call
a real LLM once per step). `lbi eval-retrieval --max-steps N` takes the first N steps in
file order, i.e. only the first few trajectories (3 of the 48 ScienceWorld test
trajectories at N = 100): too few clusters for the trajectory bootstrap and one or two task
types. A per-trajectory prefix keeps every trajectory (and task type) and every evaluated
step's history unchanged (step i only sees steps[:i]); it over-represents early steps.

    python benchmarks/retrieval_quality/prefix_heldout.py IN.jsonl OUT.jsonl K
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from lbi_icl.data.jsonl import read_trajectories, write_jsonl

    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 3 or not args[2].isdigit() or int(args[2]) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, k = Path(args[0]), Path(args[1]), int(args[2])
    out = []
    for traj in read_trajectories(src):
        meta = dict(traj.metadata) | {"prefix_steps": k, "full_steps": len(traj.steps)}
        out.append(traj.model_copy(update={"steps": traj.steps[:k], "metadata": meta}))
    n = write_jsonl(dst, out)
    steps = sum(len(t.steps) for t in out)
    print(f"{n} trajectories, {steps} steps (first {k} of each) -> {dst}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
