"""Latency summaries, process memory and CPU readings shared by the benchmark's parts."""

from __future__ import annotations

import resource
import sys
from collections.abc import Sequence
from pathlib import Path

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


def cpu_info() -> dict[str, object]:
    """The CPU model and the matrix-unit flags that decide which embedder backend is fast
    (this project's VMs have changed between AVX2-only and AMX machines)."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    return {"cpu_model": model, "cpu_flags": [f for f in wanted if f in flags]}
