"""Dataset statistics over trajectory files, computed in one streaming pass."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from lbi_icl.data.jsonl import read_trajectories


class DatasetStats(BaseModel):
    files: list[str]
    trajectories: int
    steps: int
    mean_steps: float
    median_steps: float
    min_steps: int
    max_steps: int
    by_env: dict[str, int]
    by_source_kind: dict[str, int]
    by_outcome: dict[str, int]
    by_instruction_kind: dict[str, int]


def dataset_stats(paths: Iterable[str | Path]) -> DatasetStats:
    """Counts a researcher reports in a data table (the paper's Table 1 style)."""
    files = [str(p) for p in paths]
    lengths: list[int] = []
    by_env: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    by_outcome: Counter[str] = Counter()
    by_ikind: Counter[str] = Counter()
    for traj in read_trajectories(*files):
        lengths.append(len(traj.steps))
        by_env[traj.env] += 1
        by_kind[traj.source_kind or "unspecified"] += 1
        by_outcome[traj.outcome] += 1
        by_ikind[str(traj.source.get("instruction_kind", "unspecified"))] += 1
    return DatasetStats(
        files=files,
        trajectories=len(lengths),
        steps=sum(lengths),
        mean_steps=statistics.fmean(lengths) if lengths else 0.0,
        median_steps=float(statistics.median(lengths)) if lengths else 0.0,
        min_steps=min(lengths, default=0),
        max_steps=max(lengths, default=0),
        by_env=dict(sorted(by_env.items())),
        by_source_kind=dict(sorted(by_kind.items())),
        by_outcome=dict(sorted(by_outcome.items())),
        by_instruction_kind=dict(sorted(by_ikind.items())),
    )
