"""benchmarks/llm/fit_tokens.py on a hand-made run directory with a stand-in tokenizer, so
the fitting measurement (docs/agent.md) cannot rot without a GGUF on the machine."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "fit_tokens", ROOT / "benchmarks/llm/fit_tokens.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _step(strategy: str, text: str, retrieved: int, dropped: int) -> dict:
    return {
        "strategy": strategy,
        "prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": text}],
        "retrieved": [{"id": str(i)} for i in range(retrieved)],
        "fit_items_dropped": dropped,
        "fit_history_dropped": 0,
        "prompt_tokens_est": len(text) // 4,
    }


def test_rows_count_items_tokens_and_over_long_prompts(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "steps").mkdir(parents=True)
    manifest = {"config": {"agent": {"context_tokens": 100, "max_output_tokens": 20}}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    steps = [
        _step("obs", "x" * 70, 3, 1),
        _step("obs", "x" * 90, 3, 0),
        _step("obs", "x" * 110, 3, 3),
    ]
    steps.append({**_step("none", "y" * 10, 0, 0), "prompt": None})  # not logged: skipped
    (run / "steps" / "a.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    bench = _bench()
    (row,) = bench.measure("r", run, lambda msgs: sum(len(m["content"]) for m in msgs))
    assert (row.strategy, row.steps, row.budget) == ("obs", 3, 80)
    assert row.items_retrieved == 3 and row.items_shown == (2 + 3 + 0) / 3
    assert row.fit_dropped_steps == 2 and row.real_max == 113
    assert (row.over_budget, row.over_context) == (2, 1)  # 93 and 113 > 80; 113 > 100
    assert "| r | obs | 3 |" in bench.table([row])
