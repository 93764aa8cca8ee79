"""`lbi view RUN_DIR`: write a static, self-contained viewer into RUN_DIR/view/.

    RUN_DIR/view/
      index.html, *.js, viewer.css          the page (copied from lbi_icl/view/static)
      data/meta.js                          run summary, strategies (with the chart means),
                                            shard lists, pair counts, score labels
      data/episodes/NNN.js                  episode index rows, ~1000 per shard; a shard
                                            never splits a (task, seed) group
      data/steps/<slug>.js                  one episode: its record, sibling episodes (same
                                            task and seed), and its step logs as written
      data/examples/NNN.js                  retrieved example / document texts looked up in
                                            the run's index, bucketed by FNV-1a of the id
      data/search/s-NNN.js, x-NNN.js        full-text search data (search.py)

See `lbi_icl/view/shards.py` for why data files are scripts and why that is XSS- and
eval-free. Rebuilding is incremental (steps.py: only changed episodes are read again).
Reading a run never executes anything from it; step-log lines are kept as written (unknown
fields too), so the page shows fields other engineers add without a viewer change. A
folder holding several runs gets a listing page instead (multi.py).
"""

from __future__ import annotations

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

from pydantic import BaseModel, Field

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.runner.config import KNOWN_STRATEGIES
from lbi_icl.runner.report import policy_label, strategy_row
from lbi_icl.runner.report_compare import outcome, pair_counts
from lbi_icl.runner.results import episode_slug, is_finished
from lbi_icl.runner.runlog import EpisodeRecord, latest_records, read_manifest
from lbi_icl.view.examples import ExampleSource, open_examples
from lbi_icl.view.scales import score_label, scorer_labels
from lbi_icl.view.search import write_search
from lbi_icl.view.shards import bucket_of, write_shard
from lbi_icl.view.steps import FORMAT, prune, write_steps

log = logging.getLogger(__name__)

VIEW_DIR = "view"
STATIC_FILES = (
    "index.html",
    "lib.js",
    "sort.js",
    "charts.js",
    "live.js",
    "list.js",
    "search.js",
    "viewer.js",
    "episode.js",
    "viewer.css",
)
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
    search_entries: int = 0
    # for the listing of several runs (multi.py): the run summary and outcome table
    meta: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)
    outcomes: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)


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


def _outcome_table(groups: list[list[EpisodeRecord]], strategies: list[str]) -> dict[str, Any]:
    """Per (task, seed): the outcome code (report_compare.outcome: 1 solved, 0 failed, -1
    error, null missing) and the episode's slug under each strategy."""
    rank = {s: i for i, s in enumerate(strategies)}
    rows = []
    for group in groups:
        codes: list[int | None] = [None] * len(strategies)
        slugs: list[str | None] = [None] * len(strategies)
        for r in group:
            codes[rank[r.strategy]] = outcome(r)
            slugs[rank[r.strategy]] = episode_slug(r.key)
        rows.append([group[0].task_id, group[0].seed, codes, slugs])
    return {"strategies": strategies, "rows": rows}


def _discordant(table: dict[str, Any]) -> dict[str, int]:
    """'A>B' -> (task, seed) pairs that A solved and B did not, both finished: the
    `only_a` count of report_compare.pair_counts, as `lbi report A B` counts it."""
    strategies = table["strategies"]
    by = [
        {(t, s): c[i] for t, s, c, _ in table["rows"] if c[i] is not None}
        for i in range(len(strategies))
    ]
    return {
        f"{a}>{b}": pair_counts(by[i], by[j])[1]["only_a"]
        for i, a in enumerate(strategies)
        for j, b in enumerate(strategies)
        if i != j
    }


def _strategy_stats(strategies: list[str], records: Iterable[EpisodeRecord]) -> dict[str, Any]:
    """Per strategy: counts and the means the charts draw (the report's own numbers)."""
    by: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for r in records:
        by[r.strategy].append(r)
    out = {}
    for s in strategies:
        row = strategy_row(s, by[s])
        out[s] = {
            "episodes": row.episodes,
            "finished": row.finished,
            "successes": row.successes,
            "success_rate": row.success_rate,
            "mean_steps": row.mean_steps,
            "mean_score": row.mean_score,
            "tokens_in": row.input_tokens_per_episode,
            "tokens_out": row.output_tokens_per_episode,
            "cost": row.cost_per_episode_usd,
            "cost_known": row.cost_known_episodes,
        }
    return out


def _write_examples(
    data: Path, source: ExampleSource | None, ids: set[str], found_items: dict[str, Any]
) -> tuple[int, int]:
    """data/examples/NNN.js buckets; returns (bucket count, examples written). The items
    found are also put in `found_items` (for the search data)."""
    ex_dir = data / "examples"
    if source is None or not ids:
        prune(ex_dir, set())
        return 0, 0
    buckets = min(MAX_BUCKETS, max(1, -(-len(ids) // EXAMPLES_PER_BUCKET)))
    by_bucket: dict[int, dict[str, Any]] = defaultdict(dict)
    found = 0
    for eid in sorted(ids):
        item = source.lookup(eid)
        if item is not None:
            by_bucket[bucket_of(eid, buckets)][eid] = item
            found_items[eid] = item
            found += 1
    ex_dir.mkdir(parents=True, exist_ok=True)
    names = set()
    for b in range(buckets):
        name = f"{b:03d}.js"
        names.add(name)
        write_shard(ex_dir / name, f"examples:{b}", by_bucket.get(b, {}))
    prune(ex_dir, names)
    return buckets, found


def static_text(name: str) -> str:
    return (resources.files("lbi_icl.view") / "static" / name).read_text(encoding="utf-8")


def copy_static(out: Path, names: Iterable[str] = STATIC_FILES) -> None:
    for name in names:
        atomic_write_text(out / name, static_text(name))


def is_run_dir(path: Path) -> bool:
    """A run directory: episodes.jsonl, or a manifest.json holding a run's config (a
    `config` with an `env`; an index folder's manifest.json has an `embedder` and its
    `config` no `env`). An unreadable manifest counts, so that reading it names the problem."""
    if (path / "episodes.jsonl").is_file():
        return True
    try:
        data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError, RecursionError):
        return True
    if not isinstance(data, dict) or "embedder" in data:
        return False
    cfg = data.get("config")
    return isinstance(cfg, dict) and "env" in cfg


def build_view(
    run_dir: str | Path,
    *,
    index: str | Path | None = None,
    shard_size: int = 1000,
    progress: bool = False,
    search: bool = True,
) -> ViewResult:
    """Build (or refresh) RUN_DIR/view/ and return what was written (`search=False`: no
    full-text search data, for measuring what it costs)."""
    started = time.monotonic()
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    if not is_run_dir(run):
        raise FileNotFoundError(
            f"{run}: not a run directory (no episodes.jsonl or run manifest.json); "
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
    copy_static(out)

    shard_files = []
    shards = _shards(groups, shard_size)
    (data / "episodes").mkdir(exist_ok=True)
    for i, shard in enumerate(shards):
        name = f"{i:03d}.js"
        write_shard(data / "episodes" / name, f"episodes:{i}", [_row(r, rank) for r in shard])
        shard_files.append({"file": f"data/episodes/{name}", "rows": len(shard)})
    prune(data / "episodes", {f"{i:03d}.js" for i in range(len(shards))})

    steps = write_steps(run, data, groups, progress=progress, search=search)
    source, note = open_examples(run, manifest, index)
    found: dict[str, Any] = {}
    try:
        buckets, n_examples = _write_examples(data, source, steps.ids, found)
    finally:
        if source is not None:
            source.close()
    if source is not None and n_examples < len(steps.ids):
        missing = (
            f"{len(steps.ids) - n_examples} of {len(steps.ids)} retrieved ids are not in the index"
        )
        note = f"{note}; {missing}" if note else missing
    search_meta = None
    if search:
        listed = [(episode_slug(r.key), rank[r.strategy], r.task_id, r.seed) for r in ordered]
        search_meta = write_search(data, listed, steps.search, found)
    else:
        shutil.rmtree(data / "search", ignore_errors=True)

    policies = {r.policy for r in records.values()}
    policy = cfg.get("policy") or (next(iter(policies)) if len(policies) == 1 else None)
    finished = [r for r in records.values() if is_finished(r)]
    table = _outcome_table(groups, strategies)
    meta = {
        "format": FORMAT,
        "generated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
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
            "score_label": score_label(cfg.get("env")),
            "scorers": scorer_labels(cfg.get("retrieval")),
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
        "per_strategy": _strategy_stats(strategies, records.values()),
        "stop_reasons": sorted({r.stop_reason for r in records.values()}),
        "shards": shard_files,
        "discordant": _discordant(table),
        "examples": {"buckets": buckets, "found": n_examples, "note": note},
        "search": search_meta,
    }
    write_shard(data / "meta.js", "meta", meta)  # last: a page never sees half a build
    seconds = time.monotonic() - started
    log.info("view of %s: %d episodes in %.1fs", run, len(records), seconds)
    return ViewResult(
        out=out,
        index_html=out / "index.html",
        episodes=len(records),
        shards=len(shards),
        step_files_written=steps.written,
        step_files_kept=steps.kept,
        examples=n_examples,
        examples_note=note,
        seconds=seconds,
        search_entries=search_meta["entries"] if search_meta else 0,
        meta=meta,
        outcomes=table,
    )
