"""Breakdowns of the offline retrieval benchmark (`lbi eval-retrieval`): the same per-step
results grouped by the held-out trajectory's task type, by step position (the first 5
steps, the middle, the last 5 — a whole expert path's late steps are where synthetic data
of 40-step rollouts runs out) and by whether the expert replay solved the task; and which
held-out task types the index holds how many examples of (none: a type retrieval can only
answer with other types' examples).

Position of step i of an n-step trajectory: 'first 5' when i < 5, else 'last 5' when
i >= n - 5, else 'middle' (a trajectory of at most 5 steps is all 'first 5')."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from lbi_icl.data import Trajectory
from lbi_icl.index.load import ExampleIndex
from lbi_icl.index.write import task_label
from lbi_icl.retrieval.bootstrap import bootstrap_ci, paired_difference

POSITIONS = ("first 5", "middle", "last 5")
EDGE = 5


def position_group(i: int, n: int, edge: int = EDGE) -> str:
    if i < edge:
        return POSITIONS[0]
    if i >= n - edge:
        return POSITIONS[2]
    return POSITIONS[1]


class StepKeys(BaseModel):
    """Per evaluated step: its trajectory, task type, position group and replay flag."""

    traj: list[int] = []
    task_type: list[str] = []
    position: list[str] = []
    replayed: list[str] = []

    def add(self, t_no: int, traj: Trajectory, i: int) -> None:
        self.traj.append(t_no)
        self.task_type.append(task_label(traj.task_id, traj.metadata) or "(none)")
        self.position.append(position_group(i, len(traj.steps)))
        flag = traj.metadata.get("replayed")
        self.replayed.append("unknown" if flag is None else "replayed" if flag else "not replayed")


class GroupMetrics(BaseModel):
    """One strategy on one group of steps; `diff_exact` = hit@k exact minus the baseline's
    on the same steps, with its cluster-bootstrap CI (by trajectory)."""

    strategy: str
    by: str  # 'task_type' | 'position' | 'replayed'
    group: str
    steps: int
    trajectories: int
    hit_exact: float
    hit_verb: float
    same_task_precision: float | None
    hit_exact_ci: tuple[float, float] | None = None
    diff_exact: float | None = None
    diff_exact_ci: tuple[float, float] | None = None


class TypeCoverage(BaseModel):
    """A held-out task type against the index: how many examples (and step rows) of it the
    index holds."""

    task_type: str
    heldout_trajectories: int
    heldout_steps: int
    index_examples: int
    index_steps: int


def group_metrics(
    per_step: dict[str, dict[str, list[float]]],
    keys: StepKeys,
    baseline: str | None,
    n_boot: int,
) -> list[GroupMetrics]:
    """Every strategy with examples, grouped by task type, position and replay flag.
    `per_step[s]` holds 'hit_exact', 'hit_verb' and 'same_task' lists aligned with `keys`
    ('same_task' may be empty when the held-out set has no task labels)."""
    out: list[GroupMetrics] = []
    traj = np.asarray(keys.traj, dtype=np.int64)
    for by, values, order in (
        ("task_type", keys.task_type, sorted(set(keys.task_type))),
        ("position", keys.position, [p for p in POSITIONS if p in set(keys.position)]),
        ("replayed", keys.replayed, sorted(set(keys.replayed))),
    ):
        if by == "replayed" and order == ["unknown"]:
            continue
        col = np.asarray(values, dtype=object)
        for group in order:
            sel = np.flatnonzero(col == group)
            clusters = traj[sel]
            for strategy, m in per_step.items():
                e = np.asarray(m["hit_exact"], dtype=np.float64)[sel]
                v = np.asarray(m["hit_verb"], dtype=np.float64)[sel]
                prec = m.get("same_task") or []
                p = np.asarray(prec, dtype=np.float64)[sel] if len(prec) == len(traj) else None
                ci = bootstrap_ci(e, clusters, n_boot=n_boot) if n_boot else None
                diff = diff_ci = None
                if baseline in per_step and strategy != baseline:
                    b = np.asarray(per_step[baseline]["hit_exact"], dtype=np.float64)[sel]
                    if n_boot:
                        res = paired_difference(e, b, clusters, n_boot=n_boot)
                        if res is not None:
                            diff, diff_ci = res[0], (res[1], res[2])
                    else:
                        diff = round(float((e - b).mean()), 6)
                out.append(
                    GroupMetrics(
                        strategy=strategy,
                        by=by,
                        group=group,
                        steps=len(sel),
                        trajectories=len(np.unique(clusters)),
                        hit_exact=round(float(e.mean()), 6),
                        hit_verb=round(float(v.mean()), 6),
                        same_task_precision=None if p is None else round(float(p.mean()), 6),
                        hit_exact_ci=ci,
                        diff_exact=diff,
                        diff_exact_ci=diff_ci,
                    )
                )
    return out


def type_coverage(index: ExampleIndex, trajs: Sequence[Trajectory]) -> list[TypeCoverage]:
    """Per held-out task type: its trajectories and steps, and the index's examples and
    step rows of that type (0: the index lacks it). Sorted by index examples, then name."""
    labels = index.meta_values.get("label", [])
    codes = np.asarray(index.meta_column("label"), dtype=np.int64)
    n_codes = max(len(labels), 1)
    examples = np.bincount(codes, minlength=n_codes) if len(codes) else np.zeros(n_codes)
    steps = np.bincount(codes, weights=np.diff(index.example_steps), minlength=n_codes)
    held: dict[str, list[int]] = {}
    for t in trajs:
        label = task_label(t.task_id, t.metadata) or "(none)"
        row = held.setdefault(label, [0, 0])
        row[0] += 1
        row[1] += len(t.steps)
    out = []
    for label, (n_traj, n_steps) in held.items():
        code = index.meta_code("label", label)
        out.append(
            TypeCoverage(
                task_type=label,
                heldout_trajectories=n_traj,
                heldout_steps=n_steps,
                index_examples=0 if code is None else int(examples[code]),
                index_steps=0 if code is None else int(steps[code]),
            )
        )
    return sorted(out, key=lambda c: (c.index_examples, c.task_type))
