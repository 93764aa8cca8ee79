"""Measure `proposed.py`'s query-side alternatives against the library's exact
`Bm25sIndex.top_k` on a built index: mean latency, postings touched, overlap@5 and top-1
agreement with the exact answer. Usage (after `bench.py --keep-index`):

    python benchmarks/retrieval/check_proposed.py INDEX_DIR QUERIES.json [--n 80]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proposed

from lbi_icl.index import load_index
from lbi_icl.util.tokenizer import tokenize


def _postings(bm: Any, query: str, keep: Callable[[int], bool]) -> int:
    ip = bm._indptr
    qids = {bm._vocab[t] for t in tokenize(query) if t in bm._vocab}
    return sum(int(ip[q + 1] - ip[q]) for q in qids if keep(int(ip[q + 1] - ip[q])))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("index", type=Path)
    p.add_argument("queries", type=Path, help="a queries-*.json written by bench.py")
    p.add_argument("--n", type=int, default=80)
    args = p.parse_args()
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index.load import read_manifest

    manifest = read_manifest(args.index)
    dim = manifest.embedder.dim
    emb = HashEmbedder(dim) if manifest.embedder.id.startswith("hash") else None
    bm = load_index(args.index, embedder=emb).bm25("observation")
    obs = [q["observation"] for q in json.loads(args.queries.read_text("utf-8"))][: args.n]
    n = len(bm)
    variants: dict[str, tuple[Callable[[str], Any], Callable[[int], bool]]] = {
        "exact (library)": (lambda q: bm.top_k(q, 5), lambda df: True),
        "skip df > 50 %": (
            lambda q: proposed.common_term_skip_top_k(bm, q, 5, 0.5),
            lambda df: df <= 0.5 * n,
        ),
        "skip df > 20 %": (
            lambda q: proposed.common_term_skip_top_k(bm, q, 5, 0.2),
            lambda df: df <= 0.2 * n,
        ),
        "rarest 32 terms": (lambda q: proposed.capped_top_k(bm, q, 5, 32), lambda df: True),
    }
    exact = [bm.top_k(q, 5)[0] for q in obs]  # also warms the page cache
    out: dict[str, Any] = {"rows": n, "queries": len(obs)}
    for name, (fn, keep) in variants.items():
        times, ov, top1 = [], 0.0, 0
        for q, ref in zip(obs, exact, strict=True):
            t = time.perf_counter()
            rows = fn(q)[0]
            times.append(time.perf_counter() - t)
            ov += len(set(ref) & set(rows)) / 5
            top1 += bool(len(rows) and len(ref) and rows[0] == ref[0])
        out[name] = {
            "p50_ms": float(np.percentile(times, 50) * 1000),
            "p95_ms": float(np.percentile(times, 95) * 1000),
            "postings_per_query": int(np.mean([_postings(bm, q, keep) for q in obs]))
            if name != "rarest 32 terms"
            else None,
            "overlap_at_5": ov / len(obs),
            "top1_agreement": top1 / len(obs),
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
