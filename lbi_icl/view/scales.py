"""What the numbers on the viewer's pages mean: the episode score's scale per environment,
and which scorer gave a retrieved item its score.

Episode scores come from each environment's `info["score"]` on the benchmark's own scale
(ScienceWorld 0–100 with −100 for a failed task, BabyAI's reward 0–1, ...), so one column
mixes scales across runs; the label says which. Retrieved items record the strategy part
that found them (`RetrievedItem.strategy`, written to the step log by lbi_icl/agent/loop.py):
`observation` = BM25 over the index's example steps, `instruction` / `model` / `rag` =
cosine similarity of embeddings (lbi_icl/retrieval/*.py); fused strategies re-rank.
"""

from __future__ import annotations

from typing import Any

SCORE_SCALES: dict[str, str] = {
    "babyai": "BabyAI reward, 0–1",
    "scienceworld": "ScienceWorld score, 0–100 (−100: task failed)",
    "swe": "share of tests passing, 0–1",
    "miniwob": "MiniWoB++ reward, 0–1",
    "webarena": "WebArena evaluator score, 0–1",
    "visualwebarena": "VisualWebArena evaluator score, 0–1",
    "webarena_verified": "WebArena-Verified evaluator score, 0–1",
    "workarena": "WorkArena reward, 0–1",
    "desktop": "OSWorld metric, 0–1",
    "osworld": "OSWorld metric, 0–1",
    "spider2v": "OSWorld metric, 0–1",
}

# strategy part that found an item -> (scorer, field it scored, what was compared)
SCORERS: dict[str, tuple[str, str, str]] = {
    "observation": (
        "BM25",
        "observation",
        "BM25 of the current observation against the observations of the examples' steps",
    ),
    "instruction": (
        "cosine",
        "instruction embedding",
        "cosine similarity of the task instruction with the examples' instructions",
    ),
    "model": (
        "cosine",
        "model-query embedding",
        "cosine similarity of the model-written (or template) query with the examples' "
        "descriptions (instruction + actions)",
    ),
    "rag": (
        "cosine",
        "docs embedding",
        "cosine similarity of the task instruction with the documentation chunks",
    ),
    "task_aware": (
        "fused",
        "observation BM25 + instruction",
        "BM25 candidates re-ranked by a fused score (BM25, instruction cosine, task prior)",
    ),
    "history": (
        "fused",
        "BM25 + instruction + history",
        "task_aware's fused score plus the alignment with the agent's recent actions",
    ),
}
RRF = (
    "RRF",
    "BM25 + embedding ranks",
    "reciprocal rank fusion of the BM25 and dense rankings: sum of 1/(k + rank)",
)


def score_label(env: str | None) -> str:
    """The scale of an episode's score in `env` ("score" for an environment not listed)."""
    return SCORE_SCALES.get(env or "", "score")


def scorer_labels(retrieval: dict[str, Any] | None) -> dict[str, Any]:
    """For the episode page: `parts` (strategy part -> [scorer, field, description]), `rrf`
    (the same for reciprocal-rank-fused scores) and `rrf_strategies`, the run strategies
    whose hits carry RRF scores under this run's settings (`retrieval.fusion = rrf` fuses
    `rag` and `agentic`); a hit found by two parts (`observation+model`) is RRF-scored too."""
    fused = (retrieval or {}).get("fusion") == "rrf"
    return {
        "parts": {k: list(v) for k, v in SCORERS.items()},
        "rrf": list(RRF),
        "rrf_strategies": ["rag", "agentic"] if fused else [],
    }
