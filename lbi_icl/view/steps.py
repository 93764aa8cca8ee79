"""The viewer's per-episode step files, data/steps/<slug>.js: the episode's record, its
siblings (same task and seed under the other strategies) and its step logs as written.

Incremental: a step file is rewritten only when its source log, its record or its
siblings changed (signatures in data/steps.sig.json, which also keeps each episode's
retrieved ids and search entries, so unchanged episodes are never read again).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.runner.results import episode_slug, is_finished
from lbi_icl.runner.runlog import EpisodeRecord, run_file
from lbi_icl.runner.runlog import read_steps as read_step_log
from lbi_icl.view.search import step_entries
from lbi_icl.view.shards import write_shard

FORMAT = "lbi_icl.view/2"


def read_steps(path: Path) -> tuple[list[Any], list[str]]:
    """Step-log lines as written (any JSON object, at the current format version: the run
    log's reader), and the problems found, by line number; a newer format is an error."""
    steps, found = read_step_log(path)
    problems = []
    for p in found:
        where = f"{path.name}:{p.line}" if p.line else path.name
        what = f"field '{p.field}': {p.message}" if p.field else p.message
        problems.append(f"{where}: {what}")
    return steps, problems


def retrieved_ids(steps: list[Any]) -> list[str]:
    ids: list[str] = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        for field in ("retrieved", "dropped"):
            items = step.get(field)
            if isinstance(items, list):
                ids += [str(it["id"]) for it in items if isinstance(it, dict) and "id" in it]
    return ids


def siblings(group: list[EpisodeRecord]) -> list[dict[str, Any]]:
    return [
        {
            "strategy": r.strategy,
            "slug": episode_slug(r.key),
            "success": r.success,
            "error": not is_finished(r),
        }
        for r in group
    ]


def signature(source: Path, record: dict[str, Any], sibs: list[dict[str, Any]]) -> str:
    st = source.stat() if source.exists() else None
    parts = [
        FORMAT,
        f"{st.st_size}:{st.st_mtime_ns}" if st else "missing",
        json.dumps(record, sort_keys=True),
        json.dumps(sibs, sort_keys=True),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def prune(folder: Path, keep: set[str]) -> None:
    if not folder.is_dir():
        return
    for p in folder.glob("*.js"):
        if p.name not in keep:
            p.unlink()


def track(items: list[Any], progress: bool, what: str) -> Iterable[Any]:
    if not progress or len(items) < 200:
        return items
    from rich.progress import track as rich_track

    return rich_track(items, description=what, transient=True)


class StepFiles:
    """What `write_steps` did: counts, the retrieved example ids, search entries by slug."""

    def __init__(self) -> None:
        self.written = 0
        self.kept = 0
        self.ids: set[str] = set()
        self.search: dict[str, list[Any]] = {}


def write_steps(
    run: Path,
    data: Path,
    groups: list[list[EpisodeRecord]],
    *,
    progress: bool,
    search: bool,
) -> StepFiles:
    """Write data/steps/<slug>.js for every episode whose inputs changed."""
    steps_dir = data / "steps"
    steps_dir.mkdir(parents=True, exist_ok=True)
    sig_path = data / "steps.sig.json"
    try:
        old: dict[str, Any] = json.loads(sig_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    new: dict[str, Any] = {}
    out = StepFiles()
    jobs = [(rec, group) for group in groups for rec in group]
    for rec, group in track(jobs, progress, "episode step logs"):
        slug = episode_slug(rec.key)
        outside: str | None = None
        try:
            source = run_file(run, rec.steps_log)
        except ValueError as e:  # a symlink out of the run: its target is never read
            source, outside = run / rec.steps_log, str(e)
        record = rec.model_dump(mode="json", exclude={"trajectory"})
        sibs = siblings(group)
        sig = signature(source, record, sibs)
        target = steps_dir / f"{slug}.js"
        prev = old.get(slug)
        if (
            isinstance(prev, dict)
            and prev.get("sig") == sig
            and target.exists()
            and (not search or isinstance(prev.get("search"), list))
        ):
            new[slug] = prev
            out.ids.update(str(i) for i in prev.get("ids", []))
            if search:
                out.search[slug] = prev["search"]
            out.kept += 1
            continue
        steps, problems = ([], [outside]) if outside else read_steps(source)
        example_ids = sorted(set(retrieved_ids(steps)))
        payload = {"record": record, "siblings": sibs, "steps": steps, "problems": problems}
        write_shard(target, f"steps:{slug}", payload)
        new[slug] = {"sig": sig, "ids": example_ids}
        if search:
            new[slug]["search"] = out.search[slug] = step_entries(steps)
        out.ids.update(example_ids)
        out.written += 1
    prune(steps_dir, {f"{s}.js" for s in new})
    if out.written or new.keys() != old.keys() or not sig_path.exists():
        atomic_write_text(sig_path, json.dumps(new, sort_keys=True) + "\n")
    return out
