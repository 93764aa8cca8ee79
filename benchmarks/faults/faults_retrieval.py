"""Fault cases of retrieval from the CLI: the agentic token budget, dropped items, RAG docs."""

from __future__ import annotations

import json

from faults_harness import LEVEL, Result, Workspace, lbi, run_args


# ------------------------------------------------------------------ item 9: agentic budget
def case_agentic_budget(ws: Workspace) -> Result:
    d = ws.fresh()
    from lbi_icl.data import Step, Trajectory
    from lbi_icl.embed import HashEmbedder
    from lbi_icl.index import build_index_from, load_index
    from lbi_icl.retrieval import RetrievalConfig, make_retriever
    from lbi_icl.retrieval.base import StepContext

    words = [
        "kitchen",
        "stove",
        "pot",
        "water",
        "sink",
        "table",
        "chair",
        "door",
        "key",
        "box",
        "ball",
        "red",
        "blue",
        "green",
    ]
    trajs = []
    for i in range(40):
        steps = [
            Step(
                observation=" ".join(words[(i + j + k) % len(words)] for k in range(90)),
                action=f"act {i} {j}",
            )
            for j in range(6)
        ]
        trajs.append(
            Trajectory(id=f"t{i}", env="toy", instruction=f"task {i} {words[i % 14]}", steps=steps)
        )
    build_index_from(trajs, d / "idx", embedder=HashEmbedder(64))
    index = load_index(d / "idx", embedder=HashEmbedder(64))
    retriever = make_retriever("agentic", index, RetrievalConfig())  # the default config
    ctx = StepContext(
        instruction="boil water",
        observation=" ".join(words * 4),
        history=[],
        step=0,
        task_id="other",
        env="toy",
    )
    res = retriever.retrieve(ctx)
    kept = [it.strategy for it in res.items]
    gone = [it.strategy for it in res.dropped]
    ok = bool(gone) and "model" in kept and "observation" in kept
    ok = ok and abs(kept.count("model") - kept.count("observation")) <= 1
    return Result(f"kept {kept}; dropped {len(gone)} ({sorted(set(gone))})", ok)


def case_steplog_dropped(ws: Workspace) -> Result:
    ws.fresh()
    from lbi_icl.agent.base import StepLog

    ok = "dropped" in StepLog.model_fields
    return Result(f"StepLog has a 'dropped' field: {ok}", ok)


# ------------------------------------------------------------------ item 10: RAG from the CLI
def case_docs_beside(ws: Workspace) -> Result:
    d = ws.fresh()
    data = d / "babyai.jsonl"
    rc1, _, _e1 = lbi(
        "synthesize",
        "--env",
        "babyai",
        "--tasks",
        "2",
        "--out",
        str(data),
        "--no-progress",
        "--env-option",
        f"levels={LEVEL}",
    )
    docs = d / "babyai.docs.jsonl"
    rc2, o2, _e2 = lbi(
        "index",
        "build",
        "--trajectories",
        str(data),
        "--out",
        str(d / "idx"),
        "--embedder",
        "hash:64",
        "--json",
    )
    chunks = json.loads(o2[o2.index("{") :])["counts"]["chunks"] if rc2 == 0 else 0
    rc3, _, _ = lbi(
        *run_args(d / "run", "--tasks", "1", "--retrieval", "rag", "--index", str(d / "idx"))
    )
    ok = rc1 == 0 and docs.exists() and rc2 == 0 and chunks > 0 and rc3 == 0
    return Result(f"docs written: {docs.exists()}; index chunks {chunks}; rag run exit {rc3}", ok)
