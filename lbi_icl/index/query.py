"""Ad-hoc queries against one field of an index (`lbi index query`)."""

from __future__ import annotations

from typing import Any, Literal

from lbi_icl.index.load import ExampleIndex

QueryField = Literal["instruction", "observation", "description", "docs"]
FIELDS: tuple[str, ...] = ("instruction", "observation", "description", "docs")


def query_index(
    index: ExampleIndex, field: QueryField, text: str, k: int = 5
) -> list[dict[str, Any]]:
    """Top-k rows of one field: dense cosine for instruction / description / docs, BM25 for
    observation (one row per matching step)."""
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r}; choose from {FIELDS}")
    out: list[dict[str, Any]] = []
    if field == "observation":
        rows, scores = index.bm25("observation").top_k(text, k)
        for rank, (r, s) in enumerate(zip(rows, scores, strict=True), start=1):
            e = int(index.step_example[r])
            out.append(
                {
                    "rank": rank,
                    "id": index.ids[e],
                    "step": int(index.step_pos[r]),
                    "score": round(float(s), 6),
                    "observation": index.observations[int(r)],
                    "action": index.actions[int(r)],
                }
            )
        return out
    rows, scores = index.dense_top_k(field, text, k)
    for rank, (r, s) in enumerate(zip(rows, scores, strict=True), start=1):
        if field == "docs":
            ch = index.chunks[int(r)]
            out.append(
                {
                    "rank": rank,
                    "id": ch.id,
                    "score": round(float(s), 6),
                    "title": ch.title,
                    "text": ch.text,
                }
            )
        else:
            traj = index.get_by_idx(int(r))
            out.append(
                {
                    "rank": rank,
                    "id": traj.id,
                    "score": round(float(s), 6),
                    "instruction": traj.instruction,
                    "steps": len(traj.steps),
                }
            )
    return out
