"""Query-embedding speed over time: torch vs one backend, window by window.

On a shared host the per-query time of one embedder swings between fast and slow spells
lasting seconds. `embed_backends.py` gives one p50 per run; this script shows the spells
behind it: queries alternate between the baseline (torch) and `--backend` in one process,
and every `--window` seconds it prints both medians, their ratio and the CPU time stolen
by the hypervisor in that window (`/proc/stat`). The summary compares the fastest and the
slowest quarter of the windows: how many milliseconds a slow spell adds to each embedder.

    python benchmarks/retrieval/embed_spells.py --seconds 120 --backend minilm-openvino
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchstats import cpu_info
from embed_backends import corpus_texts

from lbi_icl.embed import load_embedder

BASELINE = "default"  # the torch path


def stolen_ticks() -> int:
    """CPU ticks stolen by the hypervisor so far (0 where /proc/stat has no such field)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0


def quarter_means(values: np.ndarray, order: np.ndarray) -> tuple[float, float]:
    """Mean of `values` over the first and the last quarter of `order` (at least one each)."""
    q = max(1, len(order) // 4)
    return float(values[order[:q]].mean()), float(values[order[-q:]].mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="minilm-openvino", help="embedder spec to compare")
    ap.add_argument("--seconds", type=float, default=120.0, help="total timed time")
    ap.add_argument("--window", type=float, default=2.0, help="seconds per printed window")
    ap.add_argument("--target", type=float, default=3.0, help="ratio to count windows against")
    ap.add_argument("--pairs", type=int, default=400, help="corpus size the queries come from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.window <= 0 or args.seconds < args.window:
        ap.error("need 0 < --window <= --seconds")

    _, queries = corpus_texts(args.pairs, args.seed)
    base, other = load_embedder(BASELINE), load_embedder(args.backend)
    for q in queries[:20]:  # warm-up: model load, compiled shapes
        base.embed([q])
        other.embed([q])

    windows: list[dict[str, float]] = []
    start, i = time.monotonic(), 0
    print(f"{'t s':>6} {'torch ms':>9} {args.backend + ' ms':>20} {'ratio':>6} {'stolen':>7}")
    while time.monotonic() - start < args.seconds:
        stolen0, t_base, t_other = stolen_ticks(), [], []
        window_end = time.monotonic() + args.window
        while time.monotonic() < window_end:
            q = queries[i % len(queries)]
            i += 1
            for emb, sink in ((base, t_base), (other, t_other)):
                t0 = time.perf_counter()
                emb.embed([q])
                sink.append(time.perf_counter() - t0)
        row = {
            "t_s": round(time.monotonic() - start, 1),
            "torch_ms": 1000 * float(np.median(t_base)),
            "backend_ms": 1000 * float(np.median(t_other)),
            "queries": len(t_base),
            "stolen_ticks": stolen_ticks() - stolen0,
        }
        row["ratio"] = row["torch_ms"] / row["backend_ms"]
        windows.append(row)
        print(
            f"{row['t_s']:6.1f} {row['torch_ms']:9.1f} {row['backend_ms']:20.1f} "
            f"{row['ratio']:6.2f} {row['stolen_ticks']:7d}",
            flush=True,
        )

    torch_ms = np.array([w["torch_ms"] for w in windows])
    backend_ms = np.array([w["backend_ms"] for w in windows])
    ratios = torch_ms / backend_ms
    order = np.argsort(backend_ms)  # fastest windows of the backend first
    fast_b, slow_b = quarter_means(backend_ms, order)
    fast_t, slow_t = quarter_means(torch_ms, order)
    fast_r, slow_r = quarter_means(ratios, order)
    summary = {
        "windows": len(windows),
        "ratio_median": float(np.median(ratios)),
        "windows_at_target": int((ratios >= args.target).sum()),
        "target": args.target,
        "fast_quarter": {"torch_ms": fast_t, "backend_ms": fast_b, "ratio": fast_r},
        "slow_quarter": {"torch_ms": slow_t, "backend_ms": slow_b, "ratio": slow_r},
    }
    print(
        f"{len(windows)} windows of {args.window:g} s: ratio median {summary['ratio_median']:.2f}, "
        f"{summary['windows_at_target']} at >= {args.target:g}; the backend's fastest quarter: "
        f"torch {fast_t:.1f} ms, {args.backend} {fast_b:.1f} ms ({fast_r:.2f}x); slowest "
        f"quarter: {slow_t:.1f} / {slow_b:.1f} ms ({slow_r:.2f}x), a slow spell adds "
        f"{slow_t - fast_t:+.1f} ms to torch and {slow_b - fast_b:+.1f} ms to {args.backend}"
    )
    info = cpu_info()
    print(f"CPU: {info['cpu_model']} ({' '.join(info['cpu_flags'])}); offline, no LLM")
    if args.json_out:
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
            "model": "all-MiniLM-L6-v2, offline, no LLM",
            "backend": args.backend,
            "machine": info,
            "summary": summary,
            "windows": windows,
        }
        args.json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
