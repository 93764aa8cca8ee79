"""Dense top-k with and without faiss (issue 13 §3): exact float32 scan (numpy einsum, the
library's `dense_search="exact"`), the fp16 faiss scan and an HNSW graph (`index/ann.py`),
on one matrix, in one process, interleaved query by query. Reports p50 / p95 ms, recall@5
against the exact top 5, and the HNSW build time.

    python benchmarks/retrieval/ann_bench.py --random 83000x384           # isotropic (worst case)
    python benchmarks/retrieval/ann_bench.py --index IDX --field description \\
        --queries QUERIES.json|HELDOUT.jsonl          # an index's own vectors, template queries

With `--index`, queries are template queries (of the benchmark's query file, or of every step
of held-out trajectories) embedded by the index's embedder; with `--random`, random unit
vectors. Offline, no LLM.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from lbi_icl.index.ann import AnnConfig, Fp16Scan, Hnsw, build_hnsw, rescore
from lbi_icl.index.dense import dense_dot


def exact_top(mat: np.ndarray, vec: np.ndarray, k: int) -> np.ndarray:
    scores = dense_dot(mat, vec)
    part = np.argpartition(-scores, k)[:k]
    return part[np.lexsort((part, -scores[part]))]


def load_case(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(0)
    if args.random:
        n, d = (int(x) for x in args.random.lower().split("x"))
        mat = rng.standard_normal((n, d)).astype(np.float32)
        mat /= np.linalg.norm(mat, axis=1, keepdims=True)
        qs = rng.standard_normal((args.n_queries, d)).astype(np.float32)
        return mat, qs / np.linalg.norm(qs, axis=1, keepdims=True), f"random {n}x{d}"
    from lbi_icl.data import Step
    from lbi_icl.index import load_index
    from lbi_icl.retrieval import StepContext
    from lbi_icl.retrieval.model import template_query

    index = load_index(args.index)
    mat = np.asarray(index.vectors(args.field))
    texts = []
    if args.queries.suffix == ".jsonl":  # held-out trajectories: every step's template query
        from lbi_icl.data import Trajectory

        for line in args.queries.read_text(encoding="utf-8").splitlines():
            traj = Trajectory.model_validate_json(line)
            for i, step in enumerate(traj.steps):
                ctx = StepContext(
                    instruction=traj.instruction,
                    observation=step.observation,
                    history=traj.steps[:i],
                )
                texts.append(template_query(ctx, 48))
    else:
        for q in json.loads(args.queries.read_text(encoding="utf-8")):
            hist = [Step(observation=o, action=a) for o, a in (q.get("history") or [])]
            ctx = StepContext(
                instruction=q["instruction"], observation=q["observation"], history=hist
            )
            texts.append(template_query(ctx, 48))
    texts = texts[: args.n_queries]
    qs = index.embedder.embed(texts)
    return mat, qs, f"{args.index.name} {args.field} {mat.shape[0]}x{mat.shape[1]}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--random", help="NxD random unit vectors")
    ap.add_argument("--index", type=Path)
    ap.add_argument("--field", default="description")
    ap.add_argument("--queries", type=Path)
    ap.add_argument("--n-queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=20, help="rows fetched (recall is on the top 5)")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-search", default="96,256")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    mat, qs, label = load_case(args)
    t = time.perf_counter()
    scan = Fp16Scan(mat)
    scan_s = time.perf_counter() - t
    import tempfile

    efs = [int(x) for x in args.ef_search.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.faiss"
        t = time.perf_counter()
        build_hnsw(mat, path, AnnConfig(hnsw_m=args.hnsw_m))
        hnsw_s = time.perf_counter() - t
        # the library's engine (its candidate count and beam rule), one per beam width
        graphs = [Hnsw(path, mat.shape[0], mat.shape[1], ef_search=e) for e in efs]
    names = ["exact (einsum)", "fp16 scan + exact re-score"] + [
        f"HNSW ef {e} + re-score" for e in efs
    ]
    times: dict[str, list[float]] = {n: [] for n in names}
    recall: dict[str, list[float]] = {n: [] for n in names}
    k = args.k
    for q in qs:
        t = time.perf_counter()
        want = exact_top(mat, q, k)
        times[names[0]].append(time.perf_counter() - t)
        recall[names[0]].append(1.0)
        t = time.perf_counter()
        got, _ = rescore(mat, q, scan.candidates(q, k), k)
        times[names[1]].append(time.perf_counter() - t)
        recall[names[1]].append(len(set(got[:5].tolist()) & set(want[:5].tolist())) / 5)
        for graph, name in zip(graphs, names[2:], strict=True):
            t = time.perf_counter()
            got, _ = rescore(mat, q, graph.candidates(q, k), k)
            times[name].append(time.perf_counter() - t)
            recall[name].append(len(set(got[:5].tolist()) & set(want[:5].tolist())) / 5)
    print(
        f"{label}: {len(qs)} queries, top-{k}; fp16 scan set-up {scan_s:.2f} s, "
        f"HNSW build {hnsw_s:.1f} s (M {args.hnsw_m}, one thread); load {os.getloadavg()[0]:.1f}"
    )
    print("| method | p50 ms | p95 ms | recall@5 vs exact |")
    print("|---|---:|---:|---:|")
    rows = {}
    for n in names:
        a = np.asarray(times[n]) * 1000
        rows[n] = [float(np.median(a)), float(np.percentile(a, 95)), float(np.mean(recall[n]))]
        print(f"| {n} | {rows[n][0]:.2f} | {rows[n][1]:.2f} | {rows[n][2]:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"case": label, "rows": rows, "hnsw_build_s": hnsw_s}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
