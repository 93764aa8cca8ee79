#!/usr/bin/env python
"""Speed and scale benchmark of lbi_icl's index and retrieval (issue 3, section 4).

For each size it builds a seeded synthetic corpus of N observation–action pairs, then in a
*fresh subprocess* builds the index (from the JSONL file, like `lbi index build`), and in
another fresh subprocess loads it and times retrieval, so each phase's peak memory is that
process's own `ru_maxrss` (native allocations of numpy / bm25s / torch included) and load
time is a first load in a new process. At the first size (by default) it also compares
rank-bm25 with bm25s on the same corpus and tokenization.

    python benchmarks/retrieval/bench.py --sizes 10k,100k,1M [--embedder hash|minilm] [--json OUT]

See benchmarks/retrieval/README.md for what each number means and the recorded results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench_common import (  # noqa: E402
    EMBEDDERS,
    RESULT_TAG,
    dir_size,
    machine_info,
    parse_size,
    size_label,
)
from bench_report import (  # noqa: E402
    check_targets,
    extrapolate_minilm,
    markdown_report,
    print_report,
)
from bench_workers import worker_build, worker_serve, worker_throughput  # noqa: E402


def _run_worker(
    argv: list[str], log_path: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `bench.py _worker ...` in a fresh interpreter and parse its result line."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    t = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    wall = time.perf_counter() - t
    if log_path is not None:
        log_path.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(
            f"worker {argv[0]} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            result = json.loads(line[len(RESULT_TAG) :])
            result["process_wall_s"] = wall
            return result
    raise RuntimeError(f"worker {argv[0]} printed no result:\n{proc.stdout[-2000:]}")


def make_queries(spec: Any, probes: list[Any], n: int, seed: int) -> list[dict[str, Any]]:
    """Step contexts to query with: half from held-out trajectories of the same generator
    (new text, same distribution), half near-duplicates of corpus steps (a state the corpus
    has seen, 15 % of words changed, its task id set so the leakage guard is exercised)."""
    from synth_corpus import CorpusSpec, generate, perturb

    rng = random.Random(seed)
    held_spec = CorpusSpec(n_pairs=max(200, n * 12), seed=spec.seed + 7_919, env=spec.env)
    fresh: list[dict[str, Any]] = []
    for traj in generate(held_spec):
        j = rng.randrange(len(traj.steps))
        fresh.append(
            {
                "kind": "held-out",
                "instruction": traj.instruction,
                "observation": traj.steps[j].observation,
                "history": [(s.observation, s.action) for s in traj.steps[:j]],
                "task_id": f"heldout-{traj.id}",
                "env": spec.env,
            }
        )
        if len(fresh) >= n - n // 2:
            break
    near = [
        {
            "kind": "near-duplicate",
            "instruction": p.instruction,
            "observation": perturb(p.observation, rng),
            "history": [("(previous observation)", p.prev_action)] if p.prev_action else [],
            "task_id": p.task_id,
            "env": spec.env,
        }
        for p in probes[: n // 2]
    ]
    out = [q for pair in zip(fresh, near, strict=False) for q in pair]
    out += fresh[len(near) :] + near[len(fresh) :]
    return out[:n]


def _blas_env(threads: int | None) -> dict[str, str]:
    """Environment that caps numpy's BLAS thread pool in the serve process (None: as is)."""
    if threads is None:
        return {}
    return {k: str(threads) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def run_size(n: int, args: argparse.Namespace, console: Any) -> dict[str, Any]:
    from synth_corpus import CorpusSpec, cached_corpus

    cache = Path(args.cache_dir)
    spec = CorpusSpec(n_pairs=n, seed=args.seed)
    t = time.perf_counter()
    corpus, probes = cached_corpus(spec, cache)
    gen_s = time.perf_counter() - t
    console.log(f"[{size_label(n)}] corpus {corpus.name} ({corpus.stat().st_size / 1e6:.0f} MB)")
    qpath = cache / f"queries-{n}-s{args.seed}-q{args.queries}.json"
    queries = make_queries(spec, probes, args.queries, args.seed)
    qpath.write_text(json.dumps(queries), encoding="utf-8")

    out_dir = cache / f"index-{size_label(n)}-{args.embedder}"
    logs = cache / "logs"
    logs.mkdir(exist_ok=True)
    # --keep-index saves the build's measurements beside the index; --reuse-index serves that
    # index again (same corpus, embedder) without rebuilding, reporting the saved build.
    saved = out_dir.with_name(out_dir.name + ".build.json")
    if args.reuse_index and saved.exists() and (out_dir / "manifest.json").exists():
        build = json.loads(saved.read_text(encoding="utf-8"))
        console.log(f"[{size_label(n)}] reusing the index kept in {out_dir}")
    else:
        console.log(f"[{size_label(n)}] building index ({args.embedder}) in a fresh process ...")
        build = _run_worker(
            ["_build", "--corpus", str(corpus), "--out", str(out_dir), "--embedder", args.embedder],
            logs / f"build-{size_label(n)}-{args.embedder}.log",
        )
        if args.keep_index:
            saved.write_text(json.dumps(build), encoding="utf-8")
    size_bytes = dir_size(out_dir)
    console.log(
        f"[{size_label(n)}] built in {build['build_s']:.1f} s; loading + querying in a fresh "
        "process ..."
    )
    serve = _run_worker(
        [
            "_serve",
            "--index",
            str(out_dir),
            "--queries",
            str(qpath),
            "--embedder",
            args.embedder,
            "--strategies",
            args.strategies,
        ],
        logs / f"serve-{size_label(n)}-{args.embedder}.log",
        env=_blas_env(args.blas_threads),
    )
    result: dict[str, Any] = {
        "pairs": n,
        "label": size_label(n),
        "embedder": args.embedder,
        "corpus_file": str(corpus),
        "corpus_bytes": corpus.stat().st_size,
        "corpus_prepare_s": gen_s,
        "n_queries": len(queries),
        "index_bytes": size_bytes,
        "build": build,
        "serve": serve,
    }
    if not (args.keep_index or args.reuse_index):
        import shutil

        shutil.rmtree(out_dir, ignore_errors=True)
    return result


def run_engines(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from bm25_engines import compare_engines
    from synth_corpus import CorpusSpec, cached_corpus

    from lbi_icl.data.jsonl import read_trajectories

    spec = CorpusSpec(n_pairs=n, seed=args.seed)
    corpus, probes = cached_corpus(spec, Path(args.cache_dir))
    docs = [s.observation for t in read_trajectories(corpus) for s in t.steps]
    queries = [q["observation"] for q in make_queries(spec, probes, args.queries, args.seed)]
    res = compare_engines(
        docs,
        queries,
        n_queries_bm25s=args.queries,
        n_queries_rank=min(args.engine_queries_rank, args.queries),
    )
    return res.model_dump()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("_"):
        return _worker_main(argv)
    if argv and argv[0] == "--render":
        if len(argv) < 2:
            sys.stderr.write("usage: bench.py --render RESULTS.json [...]\n")
            return 2
        for path in argv[1:]:
            sys.stdout.write(markdown_report(json.loads(Path(path).read_text("utf-8"))) + "\n")
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1M", help="comma list, e.g. 10k,100k,1M")
    p.add_argument("--embedder", choices=sorted(EMBEDDERS), default="hash")
    p.add_argument("--json", type=Path, help="write the full results here")
    p.add_argument("--queries", type=int, default=200, help="timed queries per strategy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default="/tmp/lbi-bench", help="corpora, indexes, logs")
    p.add_argument("--strategies", default="observation,instruction,agentic")
    p.add_argument(
        "--engines-at",
        default="10k",
        help="size for the rank-bm25 vs bm25s comparison ('none' to skip)",
    )
    p.add_argument("--engine-queries-rank", type=int, default=50, help="rank-bm25 queries")
    p.add_argument(
        "--throughput",
        choices=("auto", "on", "off"),
        default="auto",
        help="measure MiniLM throughput on a corpus sample (auto: on unless sizes < 10k)",
    )
    p.add_argument("--throughput-n", type=int, default=256, help="texts per kind")
    p.add_argument("--keep-index", action="store_true", help="keep built indexes in cache-dir")
    p.add_argument(
        "--reuse-index",
        action="store_true",
        help="serve an index kept by an earlier --keep-index run instead of rebuilding it",
    )
    p.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="cap BLAS threads in the serve process (default: the library as is)",
    )
    args = p.parse_args(argv)
    if args.queries < 2:
        p.error("--queries must be at least 2")
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]

    from rich.console import Console

    console = Console()
    if console.width < 170:  # the tables are wide; let them wrap in files, not columns
        console = Console(width=170)
    report: dict[str, Any] = {
        "command": "python benchmarks/retrieval/bench.py " + " ".join(argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "embedder": args.embedder,
        "blas_threads": args.blas_threads,
        "sizes": [],
    }
    if args.engines_at != "none":
        n = parse_size(args.engines_at)
        console.log(f"rank-bm25 vs bm25s at {n:,} pairs ...")
        report["engines"] = run_engines(n, args)
    want_tp = args.throughput == "on" or (args.throughput == "auto" and max(sizes) >= 10_000)
    if want_tp:
        from synth_corpus import CorpusSpec, cached_corpus

        corpus, _ = cached_corpus(
            CorpusSpec(n_pairs=min(sizes), seed=args.seed), Path(args.cache_dir)
        )
        console.log("MiniLM throughput on a corpus sample (fresh process) ...")
        report["throughput"] = _run_worker(
            [
                "_throughput",
                "--corpus",
                str(corpus),
                "--embedder",
                "minilm",
                "--n",
                str(args.throughput_n),
            ]
        )
    for n in sizes:
        r = run_size(n, args, console)
        if report.get("throughput") and args.embedder == "hash":
            r["minilm_build_s_est"] = extrapolate_minilm(r["build"], report["throughput"])
        report["sizes"].append(r)
        if args.json:  # partial results survive a crash at a later size
            args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    report["targets"] = check_targets(report)
    print_report(report, console)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        console.log(f"results written to {args.json}")
    return 0


def _worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench.py worker")
    p.add_argument("worker", choices=("_build", "_serve", "_throughput"))
    p.add_argument("--corpus")
    p.add_argument("--out")
    p.add_argument("--index")
    p.add_argument("--queries")
    p.add_argument("--embedder", choices=sorted(EMBEDDERS), default="hash")
    p.add_argument("--strategies", default="observation,instruction,agentic")
    p.add_argument("--n", type=int, default=256)
    args = p.parse_args(argv)
    {"_build": worker_build, "_serve": worker_serve, "_throughput": worker_throughput}[args.worker](
        args
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
