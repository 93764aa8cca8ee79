"""The one table of retrieval strategies: every consumer (the retriever factory, run config
validation, `lbi ablate`'s default set, reports and the viewer's ordering) reads it.

Plain data, no heavy imports, so that validating a config never loads torch or faiss.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    name: str
    module: str  # where the retriever class lives (imported only when one is made)
    cls: str
    paper: bool  # one of the paper's six (its ablation's rows)
    writes_query: bool  # a model-written query (an LLM when configured, else a template)
    summary: str


STRATEGY_TABLE: tuple[Strategy, ...] = (
    Strategy("none", "lbi_icl.retrieval.none", "NoRetriever", True, False, "no examples"),
    Strategy("rag", "lbi_icl.retrieval.rag", "RagRetriever", True, False, "documentation chunks"),
    Strategy(
        "instruction",
        "lbi_icl.retrieval.instruction",
        "InstructionRetriever",
        True,
        False,
        "examples by instruction embedding",
    ),
    Strategy(
        "observation",
        "lbi_icl.retrieval.observation",
        "ObservationRetriever",
        True,
        False,
        "steps by BM25 over the observation",
    ),
    Strategy(
        "model",
        "lbi_icl.retrieval.model",
        "ModelRetriever",
        True,
        True,
        "examples by a model-written query (dense)",
    ),
    Strategy(
        "agentic",
        "lbi_icl.retrieval.agentic",
        "AgenticRetriever",
        True,
        True,
        "the paper's method: observation (BM25) + model (dense)",
    ),
    Strategy(
        "task_aware",
        "lbi_icl.retrieval.task_aware",
        "TaskAwareRetriever",
        False,
        False,
        "beyond the paper: fused scores with a task-family prior",
    ),
    Strategy(
        "history",
        "lbi_icl.retrieval.history",
        "HistoryRetriever",
        False,
        False,
        "beyond the paper: task_aware aligned with the agent's action history",
    ),
    Strategy(
        "random",
        "lbi_icl.retrieval.random_windows",
        "RandomRetriever",
        False,
        False,
        "control: m1 step windows drawn at random (the format without the relevance)",
    ),
)

BY_NAME: dict[str, Strategy] = {s.name: s for s in STRATEGY_TABLE}
STRATEGIES: tuple[str, ...] = tuple(s.name for s in STRATEGY_TABLE)
PAPER_STRATEGIES: tuple[str, ...] = tuple(s.name for s in STRATEGY_TABLE if s.paper)
# `lbi ablate` without --strategies: the paper's six, with or without an LLM (without one,
# `model` and `agentic` write their queries from a template, and the report says so)
ABLATE_DEFAULT: tuple[str, ...] = PAPER_STRATEGIES
