"""Small, dependency-free statistics for reports: Wilson intervals, exact paired tests,
percentiles and a seeded bootstrap.

Implemented with `math` (and plain Python) so a report never needs scipy; each function
is short enough to check by hand against a textbook example (see tests/test_report*.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Preferred over the normal (Wald) interval because it stays inside [0, 1] and behaves
    well at 0 % or 100 % success with few episodes, which is the usual case for agents.
    Returns (0, 1) when n == 0.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided p-value of a sign test: P(X <= min(k, n-k)) doubled, X ~ Bin(n, 1/2).

    This is the exact McNemar test when k and n-k are the two discordant-pair counts.
    Returns 1.0 when n == 0 (no discordant pairs: no evidence either way).
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 1.0
    m = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(m + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Exact McNemar p-value from the discordant counts (A succeeded alone, B alone)."""
    return binomial_two_sided_p(a_only, a_only + b_only)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method); None for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_mean_ci(
    values: Sequence[float], *, iterations: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of a mean (e.g. paired score differences). Seeded, so a
    report is byte-identical on rerun. None for no values."""
    if not values:
        return None
    import numpy as np

    rng = np.random.default_rng(seed)
    arr = np.asarray(values, dtype=float)
    means = arr[rng.integers(0, len(arr), size=(iterations, len(arr)))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)
