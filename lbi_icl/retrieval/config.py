"""`RetrievalConfig`: every selection knob of every strategy, each with a documented default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.data import Outcome
from lbi_icl.retrieval.base import DEFAULT_OBSERVATION_CHARS
from lbi_icl.retrieval.fused_config import HistoryConfig, TaskAwareConfig


class RetrievalConfig(BaseModel):
    """Options shared by all strategies (docs/retrieval.md)."""

    model_config = ConfigDict(extra="forbid")

    # how many
    m1: int = Field(5, ge=0, description="observation-based (BM25) examples per step")
    m2: int = Field(5, ge=0, description="model-based (dense) examples per step")
    k_instruction: int = Field(5, ge=0, description="instruction-based examples per episode")
    rag_max_docs: int = Field(50, ge=0, description="RAG documentation chunks per episode")
    # what a hit shows
    window_before: int = Field(2, ge=0, description="steps shown before the matched step")
    window_after: int = Field(2, ge=0, description="steps shown after the matched step")
    max_observation_chars: int = Field(
        DEFAULT_OBSERVATION_CHARS, ge=20, description="observation text cut per step"
    )
    # selection
    dedup: bool = Field(True, description="drop a hit whose rendered text repeats an earlier one")
    one_per_source: bool = Field(True, description="at most one hit per source trajectory")
    leakage_guard: bool = Field(
        True, description="exclude examples of the current task id (or derived from it)"
    )
    same_env: bool = Field(True, description="only examples of the current environment")
    envs: list[str] | None = Field(None, description="only examples of these environments")
    outcomes: list[Outcome] | None = Field(None, description="only examples with these outcomes")
    source_kinds: list[str] | None = Field(None, description="only these source kinds")
    # prompt budget
    token_budget: int | None = Field(
        3000,
        ge=0,
        description="estimated tokens (util.tokenizer.estimate_tokens) of examples in the "
        "prompt (None: no limit)",
    )
    # optional ranking extras
    fusion: Literal["none", "rrf"] = Field(
        "none", description="rrf: reciprocal rank fusion of the BM25 and dense lists"
    )
    rrf_k: int = Field(60, ge=1)
    mmr_lambda: float | None = Field(
        None, ge=0.0, le=1.0, description="MMR diversity re-ranking (1 = relevance only)"
    )
    overfetch: int = Field(4, ge=1, description="candidates fetched per wanted hit")
    # model-based query writing
    query_history_steps: int = Field(3, ge=0, description="history steps shown to the LLM")
    query_max_tokens: int = Field(64, ge=8)
    query_max_words: int | None = Field(
        32, ge=1, description="an LLM-written query is cut to this many words (None: no cap)"
    )
    query_observation_words: int | None = Field(
        None,
        ge=1,
        description="words of each observation in the query-writing prompt (None: all)",
    )
    template_observation_words: int | None = Field(
        48,
        ge=1,
        description="words of the current observation in the LLM-free template query "
        "(None: the whole observation; shorter queries embed faster)",
    )
    dense_search: Literal["auto", "exact"] = Field(
        "auto",
        description="auto: faiss finds the candidates of a big dense field (index/ann.py; "
        "scores stay exact); exact: always the full float32 scan",
    )
    # the fused re-ranking strategies (lbi_icl/retrieval/fused_config.py)
    task_aware: TaskAwareConfig = Field(
        default_factory=TaskAwareConfig, description="`task_aware` pool and weights"
    )
    history: HistoryConfig = Field(
        default_factory=HistoryConfig, description="`history` pool, weights and alignment"
    )
