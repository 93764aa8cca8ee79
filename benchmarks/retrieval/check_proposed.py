"""Check `proposed.build_bm25s` against `lbi_icl.index.bm25.build_bm25s` on a corpus file
(identical CSC arrays and top-5 lists) and time both; time `proposed.capped_top_k` against
the exact `Bm25sIndex.top_k` (overlap@5). Usage:

    python benchmarks/retrieval/check_proposed.py CORPUS.jsonl [--queries 60] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proposed
from synth_corpus import perturb

from lbi_icl.index.bm25 import BM25Params, Bm25sIndex, build_bm25s
from lbi_icl.jsonl import read_trajectories


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("corpus", type=Path)
    p.add_argument("--queries", type=int, default=60)
    p.add_argument("--work", type=Path, default=Path("/tmp/lbi-bench/check-proposed"))
    args = p.parse_args()
    import random

    docs = [s.observation for t in read_trajectories(args.corpus) for s in t.steps]
    params = BM25Params()
    a, b = args.work / "library", args.work / "proposed"
    t = time.perf_counter()
    build_bm25s(docs, a, params)
    ta = time.perf_counter() - t
    t = time.perf_counter()
    proposed.build_bm25s(docs, b, params)
    tb = time.perf_counter() - t
    out: dict[str, object] = {"docs": len(docs), "build_library_s": ta, "build_proposed_s": tb}
    for name in ("data", "indices", "indptr"):
        x = np.load(a / f"{name}.csc.index.npy")
        y = np.load(b / f"{name}.csc.index.npy")
        same = x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-5, atol=1e-6))
        out[f"{name}_equal"] = same
    ia, ib = Bm25sIndex(a, len(docs)), Bm25sIndex(b, len(docs))
    rng = random.Random(0)
    queries = [perturb(docs[rng.randrange(len(docs))], rng) for _ in range(args.queries)]
    same_top = 0
    for q in queries:
        same_top += list(ia.top_k(q, 5)[0]) == list(ib.top_k(q, 5)[0])
    out["top5_identical"] = f"{same_top}/{len(queries)}"
    for m in (32, 48):
        te = tc = ov = 0.0
        for q in queries:
            t = time.perf_counter()
            exact = ia.top_k(q, 5)[0]
            te += time.perf_counter() - t
            t = time.perf_counter()
            capped = proposed.capped_top_k(ia, q, 5, m)[0]
            tc += time.perf_counter() - t
            ov += len(set(exact) & set(capped)) / 5
        out[f"capped{m}"] = {
            "exact_ms": 1000 * te / len(queries),
            "capped_ms": 1000 * tc / len(queries),
            "overlap_at_5": ov / len(queries),
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
