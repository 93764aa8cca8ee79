"""bench.py's worker subprocesses (_build, _serve, _throughput): time a phase, print its result."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import EMBEDDERS, RESULT_TAG
from benchstats import latency, peak_rss_mb


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
