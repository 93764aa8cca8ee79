"""CPU cost of the load-time checks on one index (issue 10's structural invariants and issue
22's content checksums, `lbi_icl/index/content.py`), measured in one process: the
benchmark's load (open + BM25 arrays + vectors) with the checks, and with them replaced by
no-ops, alternating. CPU time (`time.process_time`), min over repetitions: on a shared,
loaded machine that is far steadier than wall time.

    python benchmarks/faults/check_cost.py INDEX_DIR [--reps 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def load_once(path: Path) -> float:
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index import load_index

    t = time.process_time()
    index = load_index(path, embedder=HashEmbedder(64))
    index.bm25("observation")
    index.vectors("instruction")
    index.vectors("description")
    spent = time.process_time() - t
    index.close()
    return spent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("index", type=Path)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument(
        "--part",
        choices=["all", "structural", "content"],
        default="all",
        help="which checks are switched off for the 'without' loads",
    )
    args = ap.parse_args()
    import lbi_icl.index.bm25 as bm25_mod  # noqa: F401 - imported for the patch targets
    import lbi_icl.index.load as load_mod
    import lbi_icl.index.store as store_mod  # noqa: F401
    import lbi_icl.index.verify as verify_mod
    from lbi_icl.index.content import ContentChecks

    names = ("check_offsets", "check_range", "check_step_table", "check_finite", "check_csc")
    real = {n: getattr(verify_mod, n) for n in names}
    real_load = {n: getattr(load_mod, n) for n in names if hasattr(load_mod, n)}
    real_changed = load_mod.check_changed_files
    real_content = {n: getattr(ContentChecks, n) for n in ("whole", "span")}

    def checks(on: bool) -> None:
        structural = on or args.part == "content"
        content = on or args.part == "structural"
        for n in names:
            fn = real[n] if structural else (lambda *a, **k: None)
            setattr(verify_mod, n, fn)
            if n in real_load:
                setattr(load_mod, n, real_load[n] if structural else fn)
        load_mod.check_changed_files = real_changed if structural else (lambda *a, **k: None)
        for n, fn in real_content.items():
            setattr(ContentChecks, n, fn if content else (lambda *a, **k: None))

    times: dict[str, list[float]] = {"with checks": [], "without": []}
    load_once(args.index)  # warm the page cache
    for rep in range(args.reps):
        for label in ("with checks", "without") if rep % 2 == 0 else ("without", "with checks"):
            checks(label == "with checks")
            times[label].append(load_once(args.index))
    checks(True)
    for label, ts in times.items():
        print(f"{label:12s} CPU s: min {min(ts):.4f}  median {statistics.median(ts):.4f}")
    lo_on, lo_off = min(times["with checks"]), min(times["without"])
    print(
        f"checks cost (min vs min): {lo_on - lo_off:+.4f} s = {100 * (lo_on / lo_off - 1):+.1f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
