"""A tiny run of benchmarks/web/bench.py so the script keeps working (numbers not checked
for speed, only for being measured)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

pytest.importorskip("browsergym.miniwob")

from lbi_icl.envs.browsergym.launch import find_chromium

pytestmark = [
    pytest.mark.web,
    pytest.mark.skipif(find_chromium() is None, reason="needs chromium (apt-get install chromium)"),
]


def test_web_bench_measures_both_envs() -> None:
    path = Path(__file__).parent.parent / "benchmarks" / "web" / "bench.py"
    spec = importlib.util.spec_from_file_location("web_bench", path)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    per = bench.run(["click-button"], repeats=1, n_steps=1)
    rec = per["click-button"]
    assert rec["tree_chars"] > 0 and rec["tree_chars"] == rec["raw_tree_chars"]
    assert len(rec["adapter_step"]) == len(rec["raw_step"]) == 1
    # the adapter's step splits into BrowserGym's env.step (timed in the worker) + the rest
    assert 0 < rec["inner_step"][0] < rec["adapter_step"][0]
    assert rec["overhead"][0] == rec["adapter_step"][0] - rec["inner_step"][0]
    assert 0 < rec["render"][0] < rec["overhead"][0]
    summary = bench.summarize(per)
    assert math.isfinite(summary["reset_ratio_p50"]) and summary["browser_pss_mb_per_worker"] > 0
    assert summary["step_over_inner_p50"] > 1
