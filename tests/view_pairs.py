"""Two hand-made run directories with known comparison answers, for `lbi report A B`, the
viewer's listing of several runs and its comparison page (tests/test_view*.py,
tests/test_report_compare.py). No environment, no index: records and step logs written
directly, shaped like the runner's.

Strategy `rag`, seed 0 (A: run `a`, B: run `b`):
    A solves t0-t5 of t0-t9 and t10 (t10 only in A); B solves t0, t1, t6, errors on t9,
    fails t11 (only in B). Shared (finished in both): t0-t8 = 9 pairs; both 2 (t0, t1),
    only A 4 (t2-t5), only B 1 (t6), neither 2 (t7, t8); A 6/9, B 3/9; not shared: A 2
    (t9: B errored, t10), B 1 (t11); errors: A 0, B 1; McNemar p = 2 * (1 + 5) / 32.
Strategy `none`: A solves t0; B solves t0-t2; t10 only in A, t11 only in B (both failed).
    Shared 10: both 1, only A 0, only B 2, neither 7; not shared 1 / 1; p = 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path

from lbi_icl.data.jsonl import JsonlAppender
from lbi_icl.runner.results import episode_key, steps_path

MARKER = "purple-zebra-7Q"  # in one step's observation only: A, rag, t3, step 1
RAG = {"both": 2, "only_a": 4, "only_b": 1, "neither": 2, "pairs": 9}
RAG_NOT_SHARED = (2, 1)
RAG_ERRORS = (0, 1)
RAG_P = 2 * (1 + 5) / 32
NONE = {"both": 1, "only_a": 0, "only_b": 2, "neither": 7, "pairs": 10}
NONE_P = 0.5

# run -> strategy -> task -> "ok" | "no" | "err"
PLAN = {
    "a": {
        "rag": {**{f"t{i}": "ok" if i <= 5 else "no" for i in range(10)}, "t10": "ok"},
        "none": {**{f"t{i}": "ok" if i == 0 else "no" for i in range(10)}, "t10": "no"},
    },
    "b": {
        "rag": {
            **{f"t{i}": "ok" if i in (0, 1, 6) else "no" for i in range(9)},
            "t9": "err",
            "t11": "no",
        },
        "none": {**{f"t{i}": "ok" if i <= 2 else "no" for i in range(10)}, "t11": "no"},
    },
}


def _steps(run: str, strategy: str, task: str, n: int) -> list[dict]:
    out = []
    for i in range(n):
        obs = f"{run} {strategy} {task} step {i}: you see a wall"
        if (run, strategy, task, i) == ("a", "rag", "t3", 1):
            obs += f" and a {MARKER} sign"
        hits = (
            [{"id": f"doc-{task}", "score": 0.5, "rank": 0, "strategy": "rag", "kind": "document"}]
            if strategy == "rag"
            else []
        )
        out.append(
            {
                "step": i,
                "observation": obs,
                "strategy": strategy,
                "queries": {},
                "retrieved": hits,
                "raw_output": f"Action: go forward {i}",
                "action": "go forward",
                "parsed": True,
                "valid": True,
                "executed": True,
                "reward": 0.0,
                "done": False,
                "input_tokens": 100 + 10 * i,
                "output_tokens": 5,
            }
        )
    return out


def record(run: str, strategy: str, task: str, result: str, steps: int) -> dict:
    key = episode_key(strategy, task, 0)
    return {
        "key": key,
        "task_id": task,
        "env": "babyai",
        "strategy": strategy,
        "policy": "retrieval",
        "seed": 0,
        "success": result == "ok",
        "score": 1.0 if result == "ok" else 0.0,
        "steps": steps,
        "input_tokens": 100 * steps,
        "output_tokens": 5 * steps,
        "cost_usd": None,
        "duration_s": 0.1 * steps,
        "stop_reason": "error" if result == "err" else "done" if result == "ok" else "max_steps",
        "error": "EnvError: boom" if result == "err" else None,
        "steps_log": steps_path(key),
    }


def write_episode(run_dir: Path, name: str, strategy: str, task: str, result: str) -> dict:
    """Append one episode (record + step log) to a run; returns the record."""
    n = 1 + (int(task[1:]) % 3) + (1 if strategy == "rag" else 0)
    rec = record(name, strategy, task, result, n)
    log = run_dir / rec["steps_log"]
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(json.dumps(s) + "\n" for s in _steps(name, strategy, task, n)))
    with JsonlAppender(run_dir / "episodes.jsonl") as app:
        app.write(rec)
    return rec


def make_pair(root: Path) -> tuple[Path, Path]:
    """root/a and root/b (each a run directory); returns (a, b)."""
    dirs = []
    for name, plan in PLAN.items():
        run = root / name
        run.mkdir(parents=True)
        manifest = {
            "config": {
                "env": "babyai",
                "split": "test",
                "policy": "retrieval",
                "strategies": ["none", "rag"],
            },
            "started_at": f"2026-12-0{1 if name == 'a' else 2}T10:00:00+00:00",
            "ended_at": f"2026-12-0{1 if name == 'a' else 2}T10:05:00+00:00",
        }
        (run / "manifest.json").write_text(json.dumps(manifest))
        for strategy, tasks in plan.items():
            for task, result in tasks.items():
                write_episode(run, name, strategy, task, result)
        dirs.append(run)
    return dirs[0], dirs[1]
