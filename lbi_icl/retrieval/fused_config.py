"""Configs of the fused re-ranking strategies (`task_aware`, `history`): candidate pool
and the weights of each score term. Kept apart from the strategies so that
`RetrievalConfig` can embed them without importing numpy-heavy code.

The fused score of a candidate step row r (observation o_r, next action a_r, in example e):

    w_bm25 * bm25(r) / max bm25 over the pool
  + w_instruction * cos(instruction of e, the agent's instruction)
  + w_task * the same-task prior of e's task family: 1 for the family named by the agent's
            task id (task metadata, Synapse-style: 'boil/3' -> 'boil') when the index has
            it (`task_prior` 'auto' / 'metadata'), else ('auto' / 'vote') the share of that
            family among the `task_vote_k` examples nearest to the agent's instruction
  + w_ground * share of a_r's object words found in the agent's instruction, observation
              and recent steps (an action about things the agent can see)
  + w_history * alignment of the actions before r with the agent's last actions (`history`)

The default weights were tuned on the dev-split held-out sets only
(benchmarks/retrieval_quality/README.md); test splits were never used to choose them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TaskAwareConfig(BaseModel):
    """`task_aware`: BM25 candidates over observation (+ last action), re-ranked by the
    instruction similarity and task family of their source example and by action grounding."""

    model_config = ConfigDict(extra="forbid")

    pool: int = Field(400, ge=1, description="BM25 candidate step rows re-ranked per step")
    query_last_action: bool = Field(True, description="add the last action to the BM25 query")
    task_prior: Literal["auto", "metadata", "vote"] = Field(
        "auto",
        description="where the agent's task family comes from: its task id's family "
        "(metadata), a vote of the nearest example instructions (vote), or metadata when the "
        "index knows that family, else the vote (auto)",
    )
    family_candidates: bool = Field(
        True,
        description="also take as candidates the step rows of the agent's task family "
        "(named by its task id; the best `pool` of them by BM25)",
    )
    grounded_candidates: bool = Field(
        False,
        description="also take as candidates the steps of every action that shares a verb "
        "with the best candidates and whose objects the agent has all seen (off: no gain "
        "on the dev sets, 47.4 -> 46.9 ScienceWorld hit@5 exact)",
    )
    grounded_from: int = Field(10, ge=1, description="best candidates whose verbs are used")
    vote_by: Literal["roots", "examples"] = Field(
        "roots",
        description="what the agent's instruction is compared with when its task id names "
        "no known family: the task instruction of each root trajectory (roots; "
        "`retrieval.family_vote`) or every example's own instruction (examples, dense)",
    )
    vote_roots: int = Field(
        5, ge=1, description="nearest root trajectories that vote for the task family"
    )
    vote_family_min: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="a voted family whose share reaches this also brings its step rows as "
        "candidates (`family_candidates`), as a family named by the task id does",
    )
    task_vote_k: int = Field(
        25, ge=1, description="nearest example instructions that vote (vote_by=examples)"
    )
    w_bm25: float = Field(1.0, ge=0.0, description="weight of the pool-normalized BM25 score")
    w_instruction: float = Field(1.0, ge=0.0, description="weight of instruction cosine")
    w_task: float = Field(1.0, ge=0.0, description="weight of the same-task prior")
    w_ground: float = Field(0.5, ge=0.0, description="weight of next-action grounding")
    observation_share: float = Field(
        0.4,
        ge=0.0,
        le=1.0,
        description="share of the m1 slots (rounded down: 2 of 5, 0 of 2) filled by the "
        "paper's observation retrieval (plain BM25 over observations, examples not already "
        "chosen), interleaved by rank with the fused hits: matches from other task families "
        "that the family prior ranks low (dev: ScienceWorld hit@5 exact +2.0 history, +3.9 "
        "task_aware; BabyAI +0.3 / +0.0)",
    )
    observation_query: Literal["pool", "observation"] = Field(
        "pool",
        description="what ranks the `observation_share` slots: the step's own BM25 pool by "
        "its BM25 score (the observation plus the last action; no second scoring of the "
        "index) or a separate BM25 query of the observation alone (the paper's retriever)",
    )
    action_cap: int | None = Field(
        None,
        ge=1,
        description="at most this many hits with the same next action (None: no cap); "
        "k slots then cover more candidate actions",
    )


class HistoryConfig(TaskAwareConfig):
    """`history`: `task_aware` plus sequence alignment of the candidate's preceding actions
    with the agent's recent actions (same point of a similar trajectory)."""

    pool: int = Field(
        800,
        ge=1,
        description="BM25 candidate step rows re-ranked per step (twice task_aware's: the "
        "alignment and position terms find the same point among more of them)",
    )
    history_steps: int = Field(3, ge=1, description="agent actions aligned (most recent first)")
    decay: float = Field(
        0.5, gt=0.0, le=1.0, description="weight of the j-th previous action: decay^(j-1)"
    )
    verb_credit: float = Field(
        0.5, ge=0.0, le=1.0, description="credit when only the action verb matches"
    )
    w_history: float = Field(1.0, ge=0.0, description="weight of the history alignment")
    root_alignment: bool = Field(
        False,
        description="align a candidate also with the actions of its root trajectory before "
        "its window starts (`retrieval.root_table`), and take the first rows of windows that "
        "follow the agent's last action in their root as candidates",
    )
    follow_last_action: bool = Field(
        True,
        description="also take as candidates the step rows that follow the agent's last "
        "action in their example (the best `pool` of them by BM25)",
    )
    w_position: float = Field(
        2.0,
        ge=0.0,
        description="weight of the step-position prior: a candidate whose step number in its "
        "root trajectory is near the agent's own step number scores up to this much more",
    )
    position_scale: float = Field(
        20.0,
        gt=0.0,
        description="steps apart at which the position prior reaches 0 (linear fall-off)",
    )
