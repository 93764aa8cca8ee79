"""`lbi view RUN_DIR`: write a static, self-contained viewer into RUN_DIR/view/.

    RUN_DIR/view/
      index.html, lib.js, viewer.js,        the page
      episode.js, viewer.css                (copied from lbi_icl/view/static)
      data/meta.js                          run summary, strategies, shard list, pair counts
      data/episodes/NNN.js                  episode index rows, ~1000 per shard; a shard
                                            never splits a (task, seed) group
      data/steps/<slug>.js                  one episode: its record, sibling episodes (same
                                            task and seed), and its step logs as written
      data/examples/NNN.js                  retrieved example / document texts looked up in
                                            the run's index, bucketed by FNV-1a of the id

See `lbi_icl/view/shards.py` for why data files are scripts and why that is XSS- and
eval-free. Rebuilding is incremental: a step file is rewritten only when its source log,
its record or its siblings changed (signatures in data/steps.sig.json). Reading a run
never executes anything from it; step-log lines are kept as written (unknown fields too),
so the page shows fields other engineers add without a viewer change.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lbi_icl.jsonl import DataError, DataProblem, atomic_write_text, iter_records
from lbi_icl.runner.config import KNOWN_STRATEGIES
from lbi_icl.runner.manifest import read_manifest
from lbi_icl.runner.report import policy_label
from lbi_icl.runner.results import (
    EpisodeRecord,
    episode_slug,
    is_finished,
    latest_records,
    run_file,
)
from lbi_icl.view.examples import ExampleSource, open_examples
from lbi_icl.view.shards import bucket_of, write_shard

log = logging.getLogger(__name__)

VIEW_DIR = "view"
FORMAT = "lbi_icl.view/1"
STATIC_FILES = ("index.html", "lib.js", "viewer.js", "episode.js", "viewer.css")
ROW_COLUMNS = (
    "strategy",  # index into meta.strategies
    "task",
    "seed",
    "success",  # 1 / 0
    "score",
    "steps",
    "tokens_in",
    "tokens_out",
    "cost",
    "stop",
    "error",
    "slug",
    "seconds",
)
EXAMPLES_PER_BUCKET = 64
MAX_BUCKETS = 4096


class ViewResult(BaseModel):
    """What `build_view` wrote."""

    out: Path
    index_html: Path
    episodes: int
    shards: int
    step_files_written: int
    step_files_kept: int
    examples: int
    examples_note: str | None
    seconds: float


def order_strategies(found: Iterable[str], configured: list[str]) -> list[str]:
    rank = {s: i for i, s in enumerate([*configured, *KNOWN_STRATEGIES])}
    return sorted(set(found), key=lambda s: (rank.get(s, len(rank)), s))


def _group_key(rec: EpisodeRecord) -> tuple[str, int]:
    return (rec.task_id, rec.seed)


def _row(rec: EpisodeRecord, strategy_index: dict[str, int]) -> list[Any]:
    return [
        strategy_index[rec.strategy],
        rec.task_id,
        rec.seed,
        1 if rec.success else 0,
        rec.score,
        rec.steps,
        rec.input_tokens,
        rec.output_tokens,
        rec.cost_usd,
        rec.stop_reason,
        rec.error if not is_finished(rec) else None,
        episode_slug(rec.key),
        round(rec.duration_s, 3),
    ]


def _shards(groups: list[list[EpisodeRecord]], size: int) -> list[list[EpisodeRecord]]:
    """Consecutive groups packed into shards of about `size` rows (groups stay whole)."""
    out: list[list[EpisodeRecord]] = []
    cur: list[EpisodeRecord] = []
    for group in groups:
        if cur and len(cur) + len(group) > size:
            out.append(cur)
            cur = []
        cur.extend(group)
    if cur:
        out.append(cur)
    return out


def _discordant(groups: list[list[EpisodeRecord]], strategies: list[str]) -> dict[str, int]:
    """'A>B' -> pairs (task, seed) that A solved and B did not, both finished."""
    counts: dict[str, int] = defaultdict(int)
    for group in groups:
        done = {r.strategy: r.success for r in group if is_finished(r)}
        for a, a_ok in done.items():
            if not a_ok:
                continue
            for b, b_ok in done.items():
                if b != a and not b_ok:
                    counts[f"{a}>{b}"] += 1
    return {f"{a}>{b}": counts.get(f"{a}>{b}", 0) for a in strategies for b in strategies if a != b}


def _read_steps(path: Path) -> tuple[list[Any], list[str]]:
    """Step-log lines as written (any JSON object), and problems found, by line number."""
    steps: list[Any] = []
    problems: list[str] = []
    if not path.exists():
        return steps, [f"{path.name}: no step log (the episode wrote none)"]
    try:
        for n, value in iter_records(path):
            if isinstance(value, DataProblem):
                problems.append(f"{path.name}:{n}: {value.message}")
            else:
                steps.append(value)
    except DataError as e:  # not UTF-8: the lines read so far are kept
        problems += [f"{path.name}:{p.line}: {p.message}" for p in e.problems]
    return steps, problems


def _retrieved_ids(steps: list[Any]) -> list[str]:
    ids: list[str] = []
    for step in steps:
        for field in ("retrieved", "dropped"):
            items = step.get(field)
            if isinstance(items, list):
                ids += [str(it["id"]) for it in items if isinstance(it, dict) and "id" in it]
    return ids


def _siblings(group: list[EpisodeRecord]) -> list[dict[str, Any]]:
    return [
        {
            "strategy": r.strategy,
            "slug": episode_slug(r.key),
            "success": r.success,
            "error": not is_finished(r),
        }
        for r in group
    ]


def _signature(source: Path, record: dict[str, Any], siblings: list[dict[str, Any]]) -> str:
    st = source.stat() if source.exists() else None
    parts = [
        FORMAT,
        f"{st.st_size}:{st.st_mtime_ns}" if st else "missing",
        json.dumps(record, sort_keys=True),
        json.dumps(siblings, sort_keys=True),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _copy_static(out: Path) -> None:
    static = resources.files("lbi_icl.view") / "static"
    for name in STATIC_FILES:
        atomic_write_text(out / name, (static / name).read_text(encoding="utf-8"))


def _prune(folder: Path, keep: set[str]) -> None:
    if not folder.is_dir():
        return
    for p in folder.glob("*.js"):
        if p.name not in keep:
            p.unlink()


def _track(items: list[Any], progress: bool, what: str) -> Iterable[Any]:
    if not progress or len(items) < 200:
        return items
    from rich.progress import track

    return track(items, description=what, transient=True)


def _write_steps(
    run: Path,
    data: Path,
    groups: list[list[EpisodeRecord]],
    progress: bool,
) -> tuple[int, int, set[str]]:
    """Write data/steps/<slug>.js for every episode; return (written, kept, example ids)."""
    steps_dir = data / "steps"
    steps_dir.mkdir(parents=True, exist_ok=True)
    sig_path = data / "steps.sig.json"
    try:
        old: dict[str, Any] = json.loads(sig_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    new: dict[str, Any] = {}
    ids: set[str] = set()
    written = kept = 0
    jobs = [(rec, group) for group in groups for rec in group]
    for rec, group in _track(jobs, progress, "episode step logs"):
        slug = episode_slug(rec.key)
        outside: str | None = None
        try:
            source = run_file(run, rec.steps_log)
        except ValueError as e:  # a symlink out of the run: its target is never read
            source, outside = run / rec.steps_log, str(e)
        record = rec.model_dump(mode="json", exclude={"trajectory"})
        siblings = _siblings(group)
        sig = _signature(source, record, siblings)
        target = steps_dir / f"{slug}.js"
        prev = old.get(slug)
        if isinstance(prev, dict) and prev.get("sig") == sig and target.exists():
            new[slug] = prev
            ids.update(str(i) for i in prev.get("ids", []))
            kept += 1
            continue
        steps, problems = ([], [outside]) if outside else _read_steps(source)
        example_ids = sorted(set(_retrieved_ids(steps)))
        payload = {
            "record": record,
            "siblings": siblings,
            "steps": steps,
            "problems": problems,
        }
        write_shard(target, f"steps:{slug}", payload)
        new[slug] = {"sig": sig, "ids": example_ids}
        ids.update(example_ids)
        written += 1
    _prune(steps_dir, {f"{s}.js" for s in new})
    atomic_write_text(sig_path, json.dumps(new, sort_keys=True) + "\n")
    return written, kept, ids


def _write_examples(data: Path, source: ExampleSource | None, ids: set[str]) -> tuple[int, int]:
    """data/examples/NNN.js buckets; returns (bucket count, examples written)."""
    ex_dir = data / "examples"
    if source is None or not ids:
        _prune(ex_dir, set())
        return 0, 0
    buckets = min(MAX_BUCKETS, max(1, -(-len(ids) // EXAMPLES_PER_BUCKET)))
    by_bucket: dict[int, dict[str, Any]] = defaultdict(dict)
    found = 0
    for eid in sorted(ids):
        item = source.lookup(eid)
        if item is not None:
            by_bucket[bucket_of(eid, buckets)][eid] = item
            found += 1
    ex_dir.mkdir(parents=True, exist_ok=True)
    names = set()
    for b in range(buckets):
        name = f"{b:03d}.js"
        names.add(name)
        write_shard(ex_dir / name, f"examples:{b}", by_bucket.get(b, {}))
    _prune(ex_dir, names)
    return buckets, found


def build_view(
    run_dir: str | Path,
    *,
    index: str | Path | None = None,
    shard_size: int = 1000,
    progress: bool = False,
) -> ViewResult:
    """Build (or refresh) RUN_DIR/view/ and return what was written."""
    started = time.monotonic()
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    if not (run / "episodes.jsonl").exists() and not (run / "manifest.json").exists():
        raise FileNotFoundError(
            f"{run}: not a run directory (no episodes.jsonl or manifest.json); "
            "expected the --out folder of `lbi run` / `lbi ablate`"
        )
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    manifest = read_manifest(run) or {}
    cfg = manifest.get("config") or {}
    records = latest_records(run)
    strategies = order_strategies(
        {r.strategy for r in records.values()}, list(cfg.get("strategies") or [])
    )
    rank = {s: i for i, s in enumerate(strategies)}
    ordered = sorted(records.values(), key=lambda r: (r.task_id, r.seed, rank[r.strategy]))
    groups: list[list[EpisodeRecord]] = []
    for rec in ordered:
        if groups and _group_key(groups[-1][0]) == _group_key(rec):
            groups[-1].append(rec)
        else:
            groups.append([rec])

    out = run / VIEW_DIR
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    _copy_static(out)

    shard_files = []
    shards = _shards(groups, shard_size)
    (data / "episodes").mkdir(exist_ok=True)
    for i, shard in enumerate(shards):
        name = f"{i:03d}.js"
        write_shard(data / "episodes" / name, f"episodes:{i}", [_row(r, rank) for r in shard])
        shard_files.append({"file": f"data/episodes/{name}", "rows": len(shard)})
    _prune(data / "episodes", {f"{i:03d}.js" for i in range(len(shards))})

    written, kept, ids = _write_steps(run, data, groups, progress)
    source, note = open_examples(run, manifest, index)
    try:
        buckets, n_examples = _write_examples(data, source, ids)
    finally:
        if source is not None:
            source.close()
    if source is not None and n_examples < len(ids):
        missing = f"{len(ids) - n_examples} of {len(ids)} retrieved ids are not in the index"
        note = f"{note}; {missing}" if note else missing

    policies = {r.policy for r in records.values()}
    policy = cfg.get("policy") or (next(iter(policies)) if len(policies) == 1 else None)
    finished = [r for r in records.values() if is_finished(r)]
    meta = {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": {
            "dir": run.resolve().name,
            "env": cfg.get("env"),
            "split": cfg.get("split"),
            "policy": policy,
            "llm": cfg.get("llm"),
            "label": policy_label(policy, cfg.get("llm")),
            "index": str(cfg.get("index")) if cfg.get("index") else None,
            "started_at": manifest.get("started_at"),
            "ended_at": manifest.get("ended_at"),
            "report": (run / "report.html").exists(),
            "prompts": manifest.get("prompts") or {},  # name -> {source, sha256}
        },
        "strategies": strategies,
        "columns": list(ROW_COLUMNS),
        "counts": {
            "episodes": len(records),
            "groups": len(groups),
            "tasks": len({r.task_id for r in records.values()}),
            "errors": len(records) - len(finished),
            "successes": sum(1 for r in finished if r.success),
        },
        "per_strategy": {
            s: {
                "episodes": sum(1 for r in records.values() if r.strategy == s),
                "finished": sum(1 for r in finished if r.strategy == s),
                "successes": sum(1 for r in finished if r.strategy == s and r.success),
            }
            for s in strategies
        },
        "stop_reasons": sorted({r.stop_reason for r in records.values()}),
        "shards": shard_files,
        "discordant": _discordant(groups, strategies),
        "examples": {"buckets": buckets, "found": n_examples, "note": note},
    }
    write_shard(data / "meta.js", "meta", meta)  # last: a page never sees half a build
    seconds = time.monotonic() - started
    log.info("view of %s: %d episodes in %.1fs", run, len(records), seconds)
    return ViewResult(
        out=out,
        index_html=out / "index.html",
        episodes=len(records),
        shards=len(shards),
        step_files_written=written,
        step_files_kept=kept,
        examples=n_examples,
        examples_note=note,
        seconds=seconds,
    )


def remove_view(run_dir: str | Path) -> None:
    """Delete RUN_DIR/view (a generated folder; `lbi view` rebuilds it)."""
    shutil.rmtree(Path(run_dir) / VIEW_DIR, ignore_errors=True)
