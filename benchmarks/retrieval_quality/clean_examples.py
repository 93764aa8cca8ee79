"""Apply the failed-action filter (lbi_icl/synth/failed_steps.py) to an existing examples
file, then the repeat filter and exact-duplicate removal, as `lbi synthesize` does for new
data; prints the counts. Used to measure the filter's effect on hit@k on the very examples
the issue measured, without a second synthesis run.

    python benchmarks/retrieval_quality/clean_examples.py IN.jsonl OUT.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from lbi_icl.data.jsonl import read_trajectories, write_jsonl
    from lbi_icl.synth.failed_steps import cut_failed_steps, failed_test
    from lbi_icl.synth.filters import content_key, drop_repeated_steps

    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst = Path(args[0]), Path(args[1])
    counts = {"examples_in": 0, "examples_with_failed_steps": 0, "failed_steps_cut": 0}
    counts |= {"dropped_all_failed": 0, "repeat_steps_removed": 0, "dropped_duplicates": 0}
    seen: set[str] = set()
    kept = []
    for traj in read_trajectories(src):
        counts["examples_in"] += 1
        test = failed_test(traj.env)
        if test is not None:
            traj, cut = cut_failed_steps(traj, test)
            counts["failed_steps_cut"] += cut
            counts["examples_with_failed_steps"] += bool(cut)
            if not traj.steps:
                counts["dropped_all_failed"] += 1
                continue
        traj, rep = drop_repeated_steps(traj)
        counts["repeat_steps_removed"] += rep
        key = content_key(traj)
        if key in seen:
            counts["dropped_duplicates"] += 1
            continue
        seen.add(key)
        kept.append(traj)
    write_jsonl(dst, kept)
    counts["examples_out"] = len(kept)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    raise SystemExit(main())
