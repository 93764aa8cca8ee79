"""Where retrieved examples help and where they hurt, read from the runs' step logs: success
per task name over several paired arms (which tasks a prompt change or retrieval moves), and
the stuck step — the page did not change after an action and the model sent the same action
again. For the stuck steps it also says how often an example cut at the first step of a
rollout was shown, beside the same rate over all later steps: on a page that barely
changed, observation matching can find the window of the page's first state and show the
first action again, and the two rates say whether that is what keeps an agent in place."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from common import step_log
from miniwob_retrieved import pct, task_name

Pair = tuple[str, int]


def per_task_table(arms: list[tuple[str, dict[Pair, Any]]]) -> list[str]:
    """`| task | pages | arm 1 | arm 2 | ... |`: successes per task name over the pairs every
    arm holds, then the total; empty when the arms share no pair."""
    if not arms:
        return []
    keys = set.intersection(*(set(by_pair) for _, by_pair in arms))
    if not keys:
        return []
    names = sorted({task_name(task_id) for task_id, _ in keys})
    lines = [
        "| task | pages | " + " | ".join(label for label, _ in arms) + " |",
        "|---|---|" + "---|" * len(arms),
    ]
    for name in [*names, None]:
        mine = [k for k in keys if name is None or task_name(k[0]) == name]
        wins = [sum(bool(by_pair[k].success) for k in mine) for _, by_pair in arms]
        label = name if name is not None else "**all**"
        lines.append(f"| {label} | {len(mine)} | " + " | ".join(map(str, wins)) + " |")
    return lines


def _first_step_shown(step: dict[str, Any]) -> bool:
    """Whether an example shown at this step was matched at the first step of its rollout
    (the window starts at 0 and the match is its first observation)."""
    for item in step.get("retrieved") or []:
        span = item.get("span") or [None]
        if item.get("kind") == "example" and span[0] == 0 and item.get("matched_step") == 0:
            return True
    return False


def stuck_table(run: Path, recs: list[Any]) -> list[str]:
    """One row per strategy: steps after the first, how many met an unchanged page, how many
    of those repeated the previous action, the episodes with such a repeat (and how many of
    them failed), and the share of all later steps and of the repeated ones that were shown
    an example of a rollout's first step."""
    lines = [
        "| strategy | steps after the first | page unchanged | action repeated | "
        "episodes with a repeat (failed) | shown a rollout's first step: later steps | "
        "repeated steps |",
        "|---|---|---|---|---|---|---|",
    ]
    for strategy in sorted({r.strategy for r in recs}):
        later = later_first = unchanged = repeated = repeat_first = episodes = failed = 0
        for rec in (r for r in recs if r.strategy == strategy):
            try:
                steps = step_log(run, rec)
            except (OSError, ValueError):
                continue
            repeats = 0
            for before, now in pairwise(steps):
                later += 1
                later_first += _first_step_shown(now)
                if now.get("observation") != before.get("observation"):
                    continue
                unchanged += 1
                if now.get("action") is not None and now.get("action") == before.get("action"):
                    repeats += 1
                    repeat_first += _first_step_shown(now)
            repeated += repeats
            episodes += bool(repeats)
            failed += bool(repeats) and not rec.success
        if not later:
            continue
        shown = (
            f"{pct(later_first, later)} | {pct(repeat_first, repeated)}"
            if strategy != "none"
            else "– | –"
        )
        lines.append(
            f"| {strategy} | {later} | {unchanged} | {repeated} | {episodes} ({failed}) | {shown} |"
        )
    return lines if len(lines) > 2 else []


def focus_only_steps(raw: Path) -> tuple[int, dict[str, int]]:
    """In a dataset's raw rollouts: (later steps, {task name: steps whose observation is the
    step before's up to `focused`}). Such a step looks to observation matching like the one
    before it, so it bounds what a query that also carries the previous action could
    change."""
    later = 0
    names: dict[str, int] = {}
    if not raw.exists():
        return 0, names
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        rollout = json.loads(line)
        seen = [_without_focus(s["observation"]) for s in rollout.get("steps", [])]
        for before, now in pairwise(seen):
            later += 1
            if before == now:
                name = task_name(rollout["id"])
                names[name] = names.get(name, 0) + 1
    return later, names


def _without_focus(observation: str) -> str:
    return observation.replace(", focused", "")
