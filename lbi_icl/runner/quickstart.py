"""`lbi quickstart`: the whole recipe offline in a couple of minutes, no key, no internet.

synthesize BabyAI training data (expert rollouts with detours, hindsight relabeling,
replay filter) → build an index with the packaged all-MiniLM-L6-v2 embedder → run the
retrieval-only policy on held-out BabyAI *test* tasks for every strategy that needs no
LLM → report (terminal table + report.html).

Every stage is seeded and resumable, so rerunning with the same seed gives the same numbers;
rerunning into the same folder reuses what is already there.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lbi_icl.agent.base import AgentConfig
from lbi_icl.data.jsonl import write_jsonl
from lbi_icl.runner.config import RunConfig
from lbi_icl.runner.report import build_report, rich_table
from lbi_icl.runner.run import RunSummary, run_experiment

log = logging.getLogger(__name__)

ENV = "babyai"
STRATEGIES = ["none", "rag", "instruction", "observation", "agentic"]
DEFAULT_TRAIN_TASKS = 24
DEFAULT_TEST_TASKS = 20
MAX_STEPS = 20
# Backward-construction windows kept per raw trajectory: the index build (embedding every
# example) dominates the quickstart's time, and 10 windows already cover each rollout.
WINDOWS_PER_TRAJECTORY = 10


class QuickstartResult(BaseModel):
    out: Path
    data: Path
    index: Path
    run: Path
    report_html: Path
    synth_counts: dict[str, Any] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict)
    summary: RunSummary


def _synthesize(data: Path, *, train_tasks: int, seed: int, progress: bool) -> dict[str, Any]:
    from lbi_icl.synth import SynthConfig, synthesize

    cfg = SynthConfig(
        env=ENV,
        split="train",
        tasks=train_tasks,
        seed=seed,
        windows_per_trajectory=WINDOWS_PER_TRAJECTORY,
    )
    rep = synthesize(cfg, data, progress=progress)
    dump = rep.model_dump() if isinstance(rep, BaseModel) else dict(rep or {})
    return dump


def _build_index(data: Path, docs: Path, index: Path, *, progress: bool) -> None:
    from lbi_icl.embed import load_embedder
    from lbi_icl.index import build_index

    build_index([data], index, docs=[docs], embedder=load_embedder(show_progress=progress))


def quickstart(
    out: str | Path = "runs/quickstart",
    *,
    seed: int = 0,
    tasks: int = DEFAULT_TEST_TASKS,
    train_tasks: int = DEFAULT_TRAIN_TASKS,
    workers: int = 2,
    max_steps: int = MAX_STEPS,
    show_progress: bool = True,
    console: Any = None,
) -> QuickstartResult:
    """Run the offline demo into `out` (data/, index/, run/) and print the report."""
    from rich.console import Console

    from lbi_icl.envs import make_env

    con = console or Console()
    root = Path(out)
    data_dir = root / "data"
    data = data_dir / "babyai_train.jsonl"
    docs = data_dir / "babyai_docs.jsonl"
    index = root / "index"
    run_dir = root / "run"
    seconds: dict[str, float] = {}

    t = time.monotonic()
    con.print(f"[bold]1/4[/] synthesizing BabyAI training data ({train_tasks} train tasks)…")
    counts = _synthesize(data, train_tasks=train_tasks, seed=seed, progress=show_progress)
    env = make_env(ENV)
    try:
        write_jsonl(docs, env.documents())
    finally:
        env.close()
    seconds["synthesize"] = time.monotonic() - t

    t = time.monotonic()
    if (index / "manifest.json").exists():
        con.print(f"[bold]2/4[/] index already built at {index}")
    else:
        con.print("[bold]2/4[/] building the index (packaged all-MiniLM-L6-v2 embedder)…")
        _build_index(data, docs, index, progress=show_progress)
    seconds["index"] = time.monotonic() - t

    t = time.monotonic()
    con.print(
        f"[bold]3/4[/] running the retrieval-only policy on {tasks} held-out test tasks "
        f"for {', '.join(STRATEGIES)}…"
    )
    cfg = RunConfig(
        env=ENV,
        split="test",
        tasks=tasks,
        policy="retrieval",
        strategies=STRATEGIES,
        index=index,
        out=run_dir,
        seed=seed,
        workers=workers,
        agent=AgentConfig(max_steps=max_steps, log_prompts=False),
    )
    summary = run_experiment(cfg, show_progress=show_progress)
    seconds["run"] = time.monotonic() - t

    t = time.monotonic()
    from lbi_icl.runner.report import report

    report(run_dir, "html")
    rep = build_report(run_dir)
    seconds["report"] = time.monotonic() - t
    con.print("[bold]4/4[/] report")
    con.print(rich_table(rep))
    html = run_dir / "report.html"
    con.print(f"HTML report: {html}")
    con.print(f"Every step and its retrieved examples: `lbi view {run_dir}`")
    took = ", ".join(f"{k} {v:.0f}s" for k, v in seconds.items())
    con.print(f"took {sum(seconds.values()):.0f}s ({took})")
    con.print(
        f"Next: the same with an LLM — `lbi ablate --env babyai --tasks {tasks} --policy llm "
        f"--llm openai:gpt-4o-mini --index {index} --out runs/babyai-llm`"
    )
    return QuickstartResult(
        out=root,
        data=data,
        index=index,
        run=run_dir,
        report_html=html,
        synth_counts=counts,
        seconds=seconds,
        summary=summary,
    )
