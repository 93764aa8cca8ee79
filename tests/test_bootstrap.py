"""Cluster-bootstrap intervals and paired differences (lbi_icl/retrieval/bootstrap.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lbi_icl.retrieval.bootstrap import bootstrap_ci, paired_difference


def test_interval_contains_the_mean_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    values = (rng.random(400) < 0.3).astype(float)
    clusters = np.repeat(np.arange(40), 10)
    lo, hi = bootstrap_ci(values, clusters, n_boot=1000)  # type: ignore[misc]
    assert lo < values.mean() < hi
    assert lo > 0.15 and hi < 0.45
    assert bootstrap_ci(values, clusters, n_boot=1000) == (lo, hi)
    assert bootstrap_ci([], []) is None


def test_clustered_data_gets_a_wider_interval_than_independent_steps() -> None:
    # 20 trajectories that are all-hit or all-miss: the effective sample is 20, not 400
    per_traj = np.array([1.0] * 10 + [0.0] * 10)
    values = np.repeat(per_traj, 20)
    clustered = bootstrap_ci(values, np.repeat(np.arange(20), 20), n_boot=2000)
    independent = bootstrap_ci(values, np.arange(400), n_boot=2000)
    assert clustered is not None and independent is not None
    assert clustered[1] - clustered[0] > 2 * (independent[1] - independent[0])


def test_a_single_cluster_gives_a_degenerate_interval() -> None:
    assert bootstrap_ci([1.0, 0.0, 1.0, 1.0], [7, 7, 7, 7]) == (0.75, 0.75)


def test_paired_difference_sign_and_zero() -> None:
    clusters = np.repeat(np.arange(30), 5)
    rng = np.random.default_rng(2)
    b = (rng.random(150) < 0.4).astype(float)
    a = np.maximum(b, (rng.random(150) < 0.3).astype(float))  # a hits wherever b does, and more
    diff, lo, hi = paired_difference(a, b, clusters, n_boot=1000)  # type: ignore[misc]
    assert diff == pytest.approx(float((a - b).mean()), abs=1e-6)
    assert 0 < lo <= diff <= hi
    same = paired_difference(b, b, clusters)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0], [1.0, 0.0], [0])
