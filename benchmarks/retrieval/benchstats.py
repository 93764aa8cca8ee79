"""Latency summaries and process memory readings shared by the benchmark's parts."""

from __future__ import annotations

import resource
import sys
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel


class Latency(BaseModel):
    """Milliseconds over n timed calls."""

    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float


def latency(seconds: Sequence[float]) -> Latency:
    if not seconds:
        raise ValueError("no timings")
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return Latency(
        n=len(ms),
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        mean_ms=float(ms.mean()),
        max_ms=float(ms.max()),
    )


def peak_rss_mb() -> float:
    """This process's peak resident set size (native allocations included), in MiB.

    ru_maxrss is KiB on Linux and bytes on macOS."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
