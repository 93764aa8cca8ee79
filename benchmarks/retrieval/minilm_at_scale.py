"""The agentic step at a scale-run size with MiniLM's query cost, without a MiniLM build.

A MiniLM index of 1M pairs takes ~45 min of embedding on the reference machine, so the scale
runs use `HashEmbedder`. This loads a kept hash index (`bench.py --keep-index`), swaps its
description vectors for a random matrix of MiniLM's width (384) and its embedder for the
real all-MiniLM-L6-v2, then times `AgenticRetriever.retrieve` (template query, no LLM) on
the benchmark's queries with the query cache cleared before every step, plus its parts.
Rankings are meaningless (random vectors); only the costs are real. The observation step
(BM25 top-5 + selection + rendering) is timed on the same queries.

    python benchmarks/retrieval/minilm_at_scale.py /tmp/lbi-bench/index-1M-hash \\
        /tmp/lbi-bench/queries-1000000-s0-q200.json [--cap 48|full] [--no-prefetch] \\
        [--embedder default|minilm-onnx|minilm-onnx-int8|minilm-openvino] \\
        [--dense-search auto|exact]

`scale_ab.py` runs it on two checkouts (today's code and this one) alternately; the last
line printed is the result as JSON after `RESULT `.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from lbi_icl.data import Step
from lbi_icl.embed import load_embedder
from lbi_icl.index import load_index
from lbi_icl.retrieval import RetrievalConfig, StepContext, make_retriever
from lbi_icl.retrieval.model import template_query


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("index", type=Path)
    p.add_argument("queries", type=Path)
    p.add_argument("--cap", default="48", help="template observation words, or 'full'")
    p.add_argument("--no-prefetch", action="store_true", help="embed on the caller's thread")
    p.add_argument("--parts", type=int, default=80, help="steps timed part by part")
    p.add_argument("--embedder", default="default", help="query embedder spec (real MiniLM)")
    p.add_argument(
        "--dense-search", default=None, help="RetrievalConfig.dense_search (auto | exact)"
    )
    args = p.parse_args()
    if args.no_prefetch:
        import lbi_icl.retrieval.agentic as agentic

        agentic.prefetch_template_embedding = lambda *a, **k: None  # type: ignore[assignment]
    cap = None if args.cap == "full" else int(args.cap)

    index = load_index(args.index)
    rng = np.random.default_rng(0)
    mat = rng.standard_normal((index.n_examples, 384)).astype(np.float32)
    mat /= np.linalg.norm(mat, axis=1, keepdims=True)
    index._vectors["description"] = mat  # MiniLM's width; manifest checks bypassed on purpose
    index._embedder = load_embedder(None if args.embedder == "default" else args.embedder)
    index.embedder.embed(["warm up"])
    index.bm25("observation")

    ctxs = []
    for q in json.loads(args.queries.read_text(encoding="utf-8")):
        hist = [Step(observation=o, action=a) for o, a in (q.get("history") or [])]
        ctxs.append(
            StepContext(
                instruction=q["instruction"],
                observation=q["observation"],
                history=hist,
                step=len(hist),
                task_id=q.get("task_id"),
                env=q.get("env"),
            )
        )
    extra = {} if args.dense_search is None else {"dense_search": args.dense_search}
    config = RetrievalConfig(template_observation_words=cap, **extra)
    retriever = make_retriever("agentic", index, config)
    observation = make_retriever("observation", index, config)
    for c in ctxs[:3]:
        retriever.retrieve(c)
        observation.retrieve(c)
    steps, obs_steps = [], []
    for c in ctxs[3:]:
        index._qcache.clear()
        steps.append(retriever.retrieve(c).latency_s)
        obs_steps.append(observation.retrieve(c).latency_s)
    parts: dict[str, list[float]] = {"embed query": [], "BM25 top-20": [], "dense top-20": []}
    for i, c in enumerate(ctxs[3 : 3 + args.parts]):
        t = time.perf_counter()
        vec = index.embedder.embed([template_query(c, cap) + f" {i}"])[0]
        parts["embed query"].append(time.perf_counter() - t)
        t = time.perf_counter()
        index.bm25("observation").top_k(c.observation, 20)
        parts["BM25 top-20"].append(time.perf_counter() - t)
        t = time.perf_counter()
        index.dense_top_k("description", vec, 20)
        parts["dense top-20"].append(time.perf_counter() - t)

    def ms(xs: list[float]) -> str:
        a = np.asarray(xs) * 1000
        return f"{np.median(a):.1f} / {np.percentile(a, 95):.1f} ms"

    def p(xs: list[float], q: float) -> float:
        return round(float(np.percentile(np.asarray(xs) * 1000, q)), 2)

    prefetch = "off" if args.no_prefetch else "on"
    print(f"agentic step, cap {cap}, prefetch {prefetch}: {ms(steps)} p50 / p95 ({len(steps)})")
    print(f"observation step: {ms(obs_steps)} p50 / p95")
    for name, xs in parts.items():
        print(f"  {name}: {ms(xs)}")
    result = {
        "agentic": [p(steps, 50), p(steps, 95)],
        "observation": [p(obs_steps, 50), p(obs_steps, 95)],
        **{name: [p(xs, 50), p(xs, 95)] for name, xs in parts.items()},
        "steps": len(steps),
        "embedder": args.embedder,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
