"""Cluster bootstrap for the offline retrieval benchmark: 95% intervals of per-step means
and of paired differences between two strategies on the same steps.

Steps of one held-out trajectory are not independent (the same task, neighbouring
states), so the resampling unit is the trajectory: each replicate draws trajectories with
replacement and takes the step-weighted mean of what it drew (the ratio estimator
sum(values) / sum(steps)). Percentile intervals; seeded, so the same inputs give the same
interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _cluster_sums(
    values: Sequence[float], clusters: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(clusters, dtype=np.int64)
    if v.shape != c.shape:
        raise ValueError(f"{len(v)} values but {len(c)} cluster labels")
    _, inv = np.unique(c, return_inverse=True)
    return np.bincount(inv, weights=v), np.bincount(inv).astype(np.float64)


def bootstrap_ci(
    values: Sequence[float],
    clusters: Sequence[int],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of the mean of `values` under resampling of whole clusters.
    None when there are no values; a degenerate interval for a single cluster."""
    if len(values) == 0:
        return None
    sums, counts = _cluster_sums(values, clusters)
    n = len(sums)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    stats = (draws @ sums) / (draws @ counts)
    lo, hi = np.percentile(stats, [50 * (1 - level), 100 - 50 * (1 - level)])
    return round(float(lo), 6), round(float(hi), 6)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    clusters: Sequence[int],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float] | None:
    """(mean(a - b), lower, upper): the paired difference on the same steps, with the
    cluster-bootstrap interval. None when there are no steps."""
    if len(a) != len(b):
        raise ValueError(f"paired difference needs equal lengths ({len(a)} vs {len(b)})")
    if len(a) == 0:
        return None
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    ci = bootstrap_ci(d, clusters, n_boot=n_boot, seed=seed, level=level)
    assert ci is not None
    return round(float(d.mean()), 6), ci[0], ci[1]
