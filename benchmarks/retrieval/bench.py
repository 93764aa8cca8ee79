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
import contextlib
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from benchstats import cpu_info, latency, peak_rss_mb  # noqa: E402

TARGETS_1M = {  # issue 3 §4, on a 2-core machine at 1M pairs
    "observation_p50_ms": 50.0,
    "agentic_p50_ms": 80.0,
    "load_s": 5.0,
    "peak_mb": 6144.0,
}
EMBEDDERS = {"hash": "hash", "minilm": None}  # bench name -> load_embedder() name
RESULT_TAG = "BENCH-RESULT "


def parse_size(text: str) -> int:
    """'10k' -> 10_000, '1M' -> 1_000_000, '2500' -> 2500."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 2000, 10k, 1M")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    value = int(float(m.group(1)) * mult)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: must be positive")
    return value


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


# --------------------------------------------------------------------------------------
# instrumentation used inside the worker subprocesses
# --------------------------------------------------------------------------------------


class TimedEmbedder:
    """Wraps an Embedder; records per call: texts in, unique texts, mean words, seconds."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        spec = getattr(inner, "spec", None)
        if spec is not None:
            self.spec = spec
        self.calls: list[dict[str, float]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        uniq = set(texts)
        words = sum(len(t.split()) for t in uniq) / max(1, len(uniq))
        t = time.perf_counter()
        out = self.inner.embed(texts)
        self.calls.append(
            {
                "texts": len(texts),
                "unique": len(uniq),
                "mean_words": words,
                "seconds": time.perf_counter() - t,
            }
        )
        return out


class Stopwatch:
    """Accumulates time spent inside wrapped callables / iterators."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        return timed

    def wrap_iter(self, it: Iterator[Any]) -> Iterator[Any]:
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.seconds += time.perf_counter() - t
                return
            self.seconds += time.perf_counter() - t
            self.calls += 1
            yield item


def _emit(result: dict[str, Any]) -> None:
    # 1-minute load average when the phase ended: on a shared 2-core machine, latencies
    # measured under load > 2 include waiting for a core.
    result["loadavg_1m"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    sys.stdout.write(RESULT_TAG + json.dumps(result) + "\n")
    sys.stdout.flush()


def _load_embedder(name: str) -> tuple[Any, float]:
    """The embedder with its model already loaded (load time returned, not counted as
    build or query time)."""
    from lbi_icl.embed import load_embedder

    t = time.perf_counter()
    emb = load_embedder(EMBEDDERS[name], show_progress=False)
    if name != "hash":
        emb.embed(["warm up the model"])
    return emb, time.perf_counter() - t


def worker_build(args: argparse.Namespace) -> None:
    """Build the index from the corpus file; report the phase split and peak memory."""
    t0 = time.perf_counter()
    import lbi_icl.data.jsonl as jsonl_mod
    import lbi_icl.index.bm25.write as bm25_write_mod
    import lbi_icl.index.build as build_mod
    import lbi_icl.index.write as write_mod
    from lbi_icl.index import build_index

    import_s = time.perf_counter() - t0
    inner, model_load_s = _load_embedder(args.embedder)
    embedder = TimedEmbedder(inner)

    read = Stopwatch()
    orig_read = jsonl_mod.read_trajectories
    jsonl_mod.read_trajectories = lambda *p: read.wrap_iter(orig_read(*p))  # type: ignore[assignment]
    bm25 = Stopwatch()
    build_mod.build_bm25s = bm25.wrap(build_mod.build_bm25s)  # type: ignore[assignment]
    write_mod.build_bm25s = bm25.wrap(write_mod.build_bm25s)  # type: ignore[assignment]
    tok = Stopwatch()
    bm25_write_mod.tokenize = tok.wrap(bm25_write_mod.tokenize)  # type: ignore[assignment]

    t = time.perf_counter()
    manifest = build_index([Path(args.corpus)], Path(args.out), embedder=embedder)
    build_s = time.perf_counter() - t
    embed_s = sum(c["seconds"] for c in embedder.calls)
    _emit(
        {
            "import_s": import_s,
            "model_load_s": model_load_s,
            "build_s": build_s,
            "read_parse_s": read.seconds,
            "embed_s": embed_s,
            "embed_calls": embedder.calls,
            "bm25_s": bm25.seconds,
            "bm25_tokenize_s": tok.seconds,
            "other_s": build_s - read.seconds - embed_s - bm25.seconds,
            "examples": manifest.counts.examples,
            "steps": manifest.counts.steps,
            "embedder_id": manifest.embedder.id,
            "bm25": manifest.bm25.model_dump(),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


def _contexts(raw: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    from lbi_icl.data import Step, Task
    from lbi_icl.retrieval.base import StepContext

    ctxs, tasks = [], []
    for q in raw:
        hist = [Step(observation=o, action=a) for o, a in q["history"]]
        ctxs.append(
            StepContext(
                instruction=q["instruction"],
                observation=q["observation"],
                history=hist,
                step=len(hist),
                task_id=q["task_id"],
                env=q["env"],
            )
        )
        tasks.append(Task(id=q["task_id"], env=q["env"], instruction=q["instruction"]))
    return ctxs, tasks


def worker_serve(args: argparse.Namespace) -> None:
    """Load the index in this fresh process and time each strategy query by query."""
    t0 = time.perf_counter()
    from lbi_icl.index import load_index
    from lbi_icl.retrieval import make_retriever
    from lbi_icl.retrieval.config import RetrievalConfig

    import_s = time.perf_counter() - t0
    inner, model_load_s = _load_embedder(args.embedder)
    embedder = TimedEmbedder(inner)
    rss_before = peak_rss_mb()

    t = time.perf_counter()
    index = load_index(Path(args.index), embedder=embedder)
    open_s = time.perf_counter() - t
    # load_index is lazy: BM25 arrays and vectors map on first use. Count them as load.
    index.bm25("observation")
    index.vectors("instruction")
    index.vectors("description")
    load_s = time.perf_counter() - t
    rss_after_load = peak_rss_mb()

    raw = json.loads(Path(args.queries).read_text(encoding="utf-8"))
    ctxs, tasks = _contexts(raw)
    config = RetrievalConfig()
    warm = min(3, len(ctxs))
    out: dict[str, Any] = {
        "import_s": import_s,
        "model_load_s": model_load_s,
        "open_s": open_s,
        "load_s": load_s,
        "rss_after_load_mb": rss_after_load,
        "rss_before_load_mb": rss_before,
        "strategies": {},
        "engine": {},
    }

    # Engine-level numbers (no selection / rendering): BM25 top-5, dense top-5 given a vector.
    bm = index.bm25("observation")
    for c in ctxs[:warm]:
        bm.top_k(c.observation, 5)
    times = []
    for c in ctxs:
        t = time.perf_counter()
        bm.top_k(c.observation, 5)
        times.append(time.perf_counter() - t)
    out["engine"]["bm25_top5"] = latency(times).model_dump()
    vecs = inner.embed([c.instruction for c in ctxs])
    times = []
    for v in vecs:
        t = time.perf_counter()
        index.dense_top_k("description", v, 5)
        times.append(time.perf_counter() - t)
    out["engine"]["dense_top5_given_vector"] = latency(times).model_dump()
    from lbi_icl.retrieval.model import template_query

    times = []
    for c in ctxs:
        # as the strategies write it (observation capped by the config); never cached
        q = template_query(c, config.template_observation_words) + " "
        t = time.perf_counter()
        inner.embed([q])
        times.append(time.perf_counter() - t)
    out["engine"]["embed_template_query"] = latency(times).model_dump()

    for name in args.strategies.split(","):
        retriever = make_retriever(name, index, config)
        times, inner_times, n_items, n_cands, tokens = [], [], [], [], []
        for i, (c, task) in enumerate(zip(ctxs, tasks, strict=True)):
            if i < warm:  # warm-up on the first queries, then time all of them
                retriever.reset(task)
                retriever.retrieve(c, None)
            if name != "instruction":
                retriever.reset(task)
            t = time.perf_counter()
            if name == "instruction":  # per episode: its dense search happens in reset
                retriever.reset(task)
            res = retriever.retrieve(c, None)
            times.append(time.perf_counter() - t)
            inner_times.append(res.latency_s)
            n_items.append(len(res.items))
            n_cands.append(len(res.items) + len(res.dropped))
            tokens.append(sum(it.tokens for it in res.items))
        out["strategies"][name] = {
            "latency": latency(times).model_dump(),
            "reported_latency": latency(inner_times).model_dump(),
            "mean_items": float(np.mean(n_items)),
            "mean_candidates": float(np.mean(n_cands)),  # before the token budget
            "mean_tokens": float(np.mean(tokens)),
        }
    out["peak_rss_mb"] = peak_rss_mb()
    _emit(out)


def worker_throughput(args: argparse.Namespace) -> None:
    """Real-embedder throughput on the kinds of texts an index embeds (unique texts/s)."""
    from lbi_icl.data.jsonl import read_trajectories
    from lbi_icl.index import description_text

    inner, model_load_s = _load_embedder(args.embedder)
    instr: dict[str, None] = {}
    desc: dict[str, None] = {}
    obs: dict[str, None] = {}
    for traj in read_trajectories(Path(args.corpus)):
        instr.setdefault(traj.instruction)
        desc.setdefault(description_text(traj))
        for s in traj.steps:
            obs.setdefault(s.observation)
        if len(desc) >= args.n and len(obs) >= args.n:
            break
    groups = {
        "instruction": list(instr)[: args.n],
        "description": list(desc)[: args.n],
        "observation": list(obs)[: args.n],
    }
    try:  # MiniLM's cost follows word pieces (capped at 256 per text), not words
        wp_tok = inner._load().tokenizer
    except Exception:  # a model without a HF tokenizer: report words only
        wp_tok = None
    out: dict[str, Any] = {"model_load_s": model_load_s, "groups": {}}
    for name, texts in groups.items():
        t = time.perf_counter()
        inner.embed(texts)
        sec = time.perf_counter() - t
        pieces = (
            float(np.mean([min(256, len(wp_tok.tokenize(x)) + 2) for x in texts]))
            if wp_tok is not None and texts
            else None
        )
        out["groups"][name] = {
            "texts": len(texts),
            "seconds": sec,
            "texts_per_s": len(texts) / sec if sec else float("inf"),
            "mean_words": float(np.mean([len(x.split()) for x in texts])) if texts else 0.0,
            "mean_wordpieces": pieces,
            "wordpieces_per_s": pieces * len(texts) / sec if pieces and sec else None,
        }
    # One template query (instruction + last action + observation) at a time, as the
    # agentic / model strategies embed it at every step: the whole observation, and its
    # first `template_observation_words` words (the default template), interleaved.
    from lbi_icl.retrieval.config import RetrievalConfig
    from lbi_icl.retrieval.model import first_words

    cap = RetrievalConfig().template_observation_words
    times, capped = [], []
    for i, o in enumerate(groups["observation"][:40]):
        head = f"{groups['instruction'][i % len(groups['instruction'])]}\nLast action: wait\n"
        for obs, sink in ((o, times), (first_words(o, cap), capped)):
            t = time.perf_counter()
            inner.embed([f"{head}Observation: {obs}"])
            sink.append(time.perf_counter() - t)
    if times:
        out["query_embed"] = latency(times).model_dump()
        out["query_embed_capped"] = latency(capped).model_dump()
        out["query_cap_words"] = cap
    out["peak_rss_mb"] = peak_rss_mb()
    _emit(out)


# --------------------------------------------------------------------------------------
# orchestration (parent process)
# --------------------------------------------------------------------------------------


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


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def machine_info() -> dict[str, Any]:
    cpu = cpu_info()
    mem = "unknown"
    with contextlib.suppress(OSError):
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu["cpu_model"],
        "cpu_flags": cpu["cpu_flags"],
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


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


def extrapolate_minilm(build: dict[str, Any], rates: dict[str, Any]) -> float | None:
    """Build seconds with MiniLM: the measured non-embedding time plus each embed call's
    unique texts at the measured rate of the nearest text kind (by mean words)."""
    groups = rates.get("groups") or {}
    if not groups:
        return None
    total = build["build_s"] - build["embed_s"]
    for call in build["embed_calls"]:
        nearest = min(groups.values(), key=lambda g: abs(g["mean_words"] - call["mean_words"]))
        total += call["unique"] / nearest["texts_per_s"]
    return total


def _ms(lat: dict[str, Any]) -> str:
    return f"{lat['p50_ms']:.1f} / {lat['p95_ms']:.1f}"


def print_report(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    if report.get("engines"):
        e = report["engines"]
        t = Table(title=f"BM25 engines at {e['n_docs']:,} observations (top-{e['k']}, one query)")
        for col in ("engine", "build s", "query p50 / p95 ms", "queries"):
            t.add_column(col, justify="right" if col != "engine" else "left")
        for r in e["engines"]:
            t.add_row(r["engine"], f"{r['build_s']:.2f}", _ms(r["query"]), str(r["n_queries"]))
        console.print(t)
        for key, val in e["overlap_at_k"].items():
            console.print(
                f"  overlap@{e['k']} {key}: {val:.3f}   top-1 agreement: {e['top1_agree'][key]:.3f}"
            )

    b = Table(title=f"Build (embedder: {report['embedder']})")
    for col in (
        "pairs",
        "examples",
        "build s",
        "read+parse s",
        "embed s (share)",
        "unique texts emb.",
        "texts/s",
        "BM25 s",
        "other s",
        "size MB",
        "peak MB",
        "MiniLM build s (est.)",
    ):
        b.add_column(col, justify="right")
    for r in report["sizes"]:
        x = r["build"]
        uniq = sum(c["unique"] for c in x["embed_calls"])
        rate = uniq / x["embed_s"] if x["embed_s"] else float("inf")
        est = r.get("minilm_build_s_est")
        b.add_row(
            r["label"],
            f"{x['examples']:,}",
            f"{x['build_s']:.1f}",
            f"{x['read_parse_s']:.1f}",
            f"{x['embed_s']:.1f} ({100 * x['embed_s'] / x['build_s']:.0f}%)",
            f"{uniq:,}",
            f"{rate:,.0f}",
            f"{x['bm25_s']:.1f}",
            f"{x['other_s']:.1f}",
            f"{r['index_bytes'] / 2**20:,.0f}",
            f"{x['peak_rss_mb']:,.0f}",
            f"{est:,.0f}" if est is not None else "-",
        )
    console.print(b)

    s = Table(title="Load and query (fresh process; latency p50 / p95 ms)")
    cols = ["pairs", "load s", "peak MB", "BM25 top-5", "embed query"]
    strategies = list(report["sizes"][0]["serve"]["strategies"]) if report["sizes"] else []
    cols += strategies
    for col in cols:
        s.add_column(col, justify="right")
    for r in report["sizes"]:
        x = r["serve"]
        s.add_row(
            r["label"],
            f"{x['load_s']:.2f}",
            f"{x['peak_rss_mb']:,.0f}",
            _ms(x["engine"]["bm25_top5"]),
            _ms(x["engine"]["embed_template_query"]),
            *[_ms(x["strategies"][k]["latency"]) for k in strategies],
        )
    console.print(s)

    if report.get("throughput"):
        th = report["throughput"]
        console.print(
            "MiniLM throughput (unique texts/s): "
            + ", ".join(
                f"{k} {g['texts_per_s']:.1f}/s (~{g['mean_words']:.0f} words, "
                f"~{g.get('mean_wordpieces') or 0:.0f} word pieces)"
                for k, g in th["groups"].items()
            )
        )
        if th.get("query_embed"):
            console.print(f"MiniLM template-query embedding ms p50 / p95: {_ms(th['query_embed'])}")
    for check in report.get("targets", []):
        mark = "[green]met[/]" if check["met"] else "[red]MISSED[/]"
        console.print(
            f"target {check['name']} at {check['label']}: {check['measured']:.2f} "
            f"(≤ {check['target']:.0f}) {mark}"
        )


def markdown_report(report: dict[str, Any]) -> str:
    """The run's tables as Markdown, for the README (`--render RESULTS.json`)."""
    m = report["machine"]
    lines = [
        f"- command: `{report['command']}`",
        f"- date: {report['date']}; git {m.get('git_commit')}; Python {m.get('python')}",
        f"- machine: {m.get('nproc')} CPUs ({m.get('cpu')}), "
        + (m.get("memory", "").splitlines()[1].split()[1] if m.get("memory") else "?")
        + " RAM; 1-min load average at start "
        + (f"{m['loadavg'][0]:.1f}" if m.get("loadavg") else "?"),
        f"- embedder: {report['embedder']}; BLAS threads in serve: "
        + str(report.get("blas_threads") or "library default"),
        "",
    ]
    e = report.get("engines")
    if e:
        lines += [
            f"BM25 engines, {e['n_docs']:,} observations, top-{e['k']}, one query at a time "
            f"(~{e['mean_query_tokens']:.0f} query tokens):",
            "",
            "| engine | build s | query p50 ms | query p95 ms | queries |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in e["engines"]:
            q = r["query"]
            lines.append(
                f"| {r['engine']} | {r['build_s']:.2f} | {q['p50_ms']:.1f} | {q['p95_ms']:.1f} "
                f"| {r['n_queries']} |"
            )
        lines.append("")
        for key, val in e["overlap_at_k"].items():
            lines.append(
                f"- overlap@{e['k']} {key}: {val:.2f} (top-1 agreement {e['top1_agree'][key]:.2f})"
            )
        lines.append("")
    lines += [
        "| pairs | examples | build s | read+parse s | embed s (share) | unique texts "
        "embedded | embed texts/s | BM25 s | other s | index MB | build peak MB | "
        "MiniLM build s (est.) | build load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        x = r["build"]
        uniq = sum(c["unique"] for c in x["embed_calls"])
        rate = uniq / x["embed_s"] if x["embed_s"] else float("inf")
        est = r.get("minilm_build_s_est")
        lines.append(
            f"| {r['label']} | {x['examples']:,} | {x['build_s']:.1f} | {x['read_parse_s']:.1f} "
            f"| {x['embed_s']:.1f} ({100 * x['embed_s'] / x['build_s']:.0f} %) | {uniq:,} "
            f"| {rate:,.0f} | {x['bm25_s']:.1f} | {x['other_s']:.1f} "
            f"| {r['index_bytes'] / 2**20:,.0f} | {x['peak_rss_mb']:,.0f} "
            f"| {f'{est:,.0f}' if est is not None else '-'} | {x.get('loadavg_1m') or 0:.1f} |"
        )
    lines.append("")
    strategies = list(report["sizes"][0]["serve"]["strategies"]) if report["sizes"] else []
    lines += [
        "| pairs | load s | serve peak MB | BM25 top-5 | dense top-5 (vector given) "
        "| embed query | " + " | ".join(strategies) + " | serve load avg |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(strategies) + "---:|",
    ]
    for r in report["sizes"]:
        x = r["serve"]
        eng = x["engine"]
        lines.append(
            f"| {r['label']} | {x['load_s']:.2f} | {x['peak_rss_mb']:,.0f} "
            f"| {_ms(eng['bm25_top5'])} | {_ms(eng['dense_top5_given_vector'])} "
            f"| {_ms(eng['embed_template_query'])} | "
            + " | ".join(_ms(x["strategies"][k]["latency"]) for k in strategies)
            + f" | {x.get('loadavg_1m') or 0:.1f} |"
        )
    lines += ["", "(latencies: p50 / p95 ms over the timed queries)", ""]
    th = report.get("throughput")
    if th:
        lines.append("MiniLM (all-MiniLM-L6-v2, CPU) on a sample of the corpus's own texts:")
        lines.append("")
        lines.append("| texts | n | mean words | mean word pieces | texts/s | word pieces/s |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for k, g in th["groups"].items():
            wp = g.get("mean_wordpieces")
            wps = g.get("wordpieces_per_s")
            lines.append(
                f"| {k} | {g['texts']} | {g['mean_words']:.0f} | "
                f"{f'{wp:.0f}' if wp else '-'} | {g['texts_per_s']:.1f} | "
                f"{f'{wps:.0f}' if wps else '-'} |"
            )
        if th.get("query_embed"):
            lines.append("")
            capped = (
                f"; with the observation cut to its first {th['query_cap_words']} words "
                f"(the default template) {_ms(th['query_embed_capped'])} ms"
                if th.get("query_embed_capped")
                else ""
            )
            lines.append(
                f"One template query embedded at a time: {_ms(th['query_embed'])} ms "
                f"(p50 / p95) with the whole observation{capped}; model load "
                f"{th['model_load_s']:.1f} s; load average {th.get('loadavg_1m', 0):.1f}."
            )
        lines.append("")
    for c in report.get("targets", []):
        lines.append(
            f"- target {c['name']} (≤ {c['target']:g}) at {c['label']}: measured "
            f"{c['measured']:.2f} — {'met' if c['met'] else '**MISSED**'}"
        )
    return "\n".join(lines) + "\n"


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 3's targets, checked at the largest size run (they are stated for 1M)."""
    if not report["sizes"]:
        return []
    r = max(report["sizes"], key=lambda x: x["pairs"])
    s = r["serve"]
    p50 = {k: v["latency"]["p50_ms"] for k, v in s["strategies"].items()}
    measured = {
        "observation_p50_ms": p50.get("observation"),
        "agentic_p50_ms": p50.get("agentic"),
        "load_s": s["load_s"],
        "peak_mb": max(s["peak_rss_mb"], r["build"]["peak_rss_mb"]),
    }
    return [
        {
            "name": k,
            "label": r["label"],
            "measured": v,
            "target": TARGETS_1M[k],
            "met": v <= TARGETS_1M[k],
        }
        for k, v in measured.items()
        if v is not None
    ]


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
