"""What the agent was shown, per index and strategy: how many examples a step retrieved,
how many were cut from a page of the episode's own task, and how many from a rollout that
solved its page. It is the evidence for why one index helps more than another (an index
can only help on a task it holds examples of, and a window of a failed rollout can teach
a wrong step), read from the runs' step logs rather than guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import step_log


def task_name(task_or_example_id: str) -> str:
    """`click-tab/seed-5/rep-2` or `click-tab/seed-1000#si3/llm/w0-1/abstract` -> `click-tab`."""
    return task_or_example_id.split("/", 1)[0]


def example_sources(index: Path, raw: Path) -> dict[str, tuple[str, bool | None]]:
    """Example id -> (its task name, whether the rollout it was cut from solved its page;
    None where the raw rollouts do not say)."""
    solved: dict[str, bool] = {}
    if raw.exists():
        for line in raw.read_text().splitlines():
            rollout = json.loads(line)
            solved[rollout["id"]] = rollout.get("outcome") == "success"
    sources: dict[str, tuple[str, bool | None]] = {}
    examples = index / "examples.jsonl"
    if examples.exists():
        for line in examples.read_text().splitlines():
            ex = json.loads(line)
            parent = (ex.get("source") or {}).get("parent_id")
            sources[ex["id"]] = (task_name(ex["id"]), solved.get(parent))
    return sources


def _retrieved_per_step(run: Path, rec: Any) -> list[list[str]]:
    """The example ids each step of the episode retrieved (docs chunks left out)."""
    try:
        steps = step_log(run, rec)
    except (OSError, ValueError):
        return []
    return [
        [item["id"] for item in st.get("retrieved") or [] if item.get("kind") == "example"]
        for st in steps
    ]


def _source(sources: dict[str, tuple[str, bool | None]], ex_id: str) -> tuple[str, bool | None]:
    """(task name, solved?) of a retrieved example; one the index does not list is named by
    its id and counted as unknown."""
    return sources.get(ex_id, (task_name(ex_id), None))


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}" if whole else "–"


def _rate(wins: int, n: int) -> str:
    return f"{100 * wins / n:.0f} % ({wins}/{n})" if n else "–"


def retrieved_table(
    run: Path, recs: list[Any], sources: dict[str, tuple[str, bool | None]]
) -> list[str]:
    """One row per strategy that retrieves examples: examples per step, the share from the
    episode's own task and from solved rollouts, and success split by whether the first
    step was shown an example of the episode's own task."""
    lines = [
        "| strategy | steps | examples/step | same task % | from a solved rollout % | "
        "success, step 0 shows the task | success, it does not |",
        "|---|---|---|---|---|---|---|",
    ]
    for strategy in sorted({r.strategy for r in recs} - {"none"}):
        steps = shown = same = known = solved = 0
        split = {True: [0, 0], False: [0, 0]}  # step 0 shows the task -> [wins, n]
        for rec in (r for r in recs if r.strategy == strategy):
            per_step = _retrieved_per_step(run, rec)
            if not per_step:
                continue
            own = task_name(rec.task_id)
            for ids in per_step:
                steps += 1
                shown += len(ids)
                for ex_id in ids:
                    name, ok = _source(sources, ex_id)
                    same += name == own
                    known += ok is not None
                    solved += bool(ok)
            first_shows_task = any(_source(sources, i)[0] == own for i in per_step[0])
            split[first_shows_task][0] += bool(rec.success)
            split[first_shows_task][1] += 1
        if not steps:
            continue
        lines.append(
            f"| {strategy} | {steps} | {shown / steps:.1f} | {pct(same, shown)} | "
            f"{pct(solved, known)} | {_rate(*split[True])} | {_rate(*split[False])} |"
        )
    return lines if len(lines) > 2 else []
