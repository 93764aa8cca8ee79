"""`lbi view DIR` on a folder that holds runs: each run's viewer (built incrementally) and
a listing page in DIR/view/ that links to them and compares any two.

    DIR/view/
      index.html, runs.js, lib.js, sort.js,   the listing page (static/runs.html)
      live.js, viewer.css
      data/meta.js                            every run: path, env, split, policy label,
                                              strategies with success counts, times
      data/runs/<id>.js                       one run's outcome table for the comparison:
                                              per (task, seed) the outcome code of each
                                              strategy (report_compare.outcome) and slug

A run is a folder with episodes.jsonl, or with a manifest.json holding a run's config
(`build.is_run_dir`: an index folder's manifest.json is not one); folders inside a run,
`view/` folders and hidden folders are not searched. The comparison page pairs two runs
by the rule of `lbi report A B` (lbi_icl/runner/report_compare.py).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from lbi_icl.data.jsonl import DataError, atomic_write_text
from lbi_icl.view.build import VIEW_DIR, build_view, copy_static, is_run_dir, static_text
from lbi_icl.view.shards import fnv1a, write_shard
from lbi_icl.view.steps import FORMAT, prune

log = logging.getLogger(__name__)

RUNS_STATIC = ("lib.js", "sort.js", "live.js", "runs.js", "viewer.css")


class RunsViewResult(BaseModel):
    out: Path
    index_html: Path
    runs: list[Path]
    built: int
    failed: dict[str, str] = Field(default_factory=dict)  # relative path -> error
    episodes: int
    seconds: float


def find_runs(folder: str | Path) -> list[Path]:
    """Run directories below `folder` (not inside other runs), sorted by relative path."""
    root = Path(folder)
    found: list[Path] = []
    for here, dirs, _files in os.walk(root):
        path = Path(here)
        if path != root and is_run_dir(path):
            found.append(path)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != VIEW_DIR)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def run_id(rel: str) -> str:
    """A file-safe, stable id of a run for its outcome file (FNV-1a of its path)."""
    return f"{fnv1a(rel):08x}"


def _summary(rel: str, meta: dict[str, Any]) -> dict[str, Any]:
    run = meta.get("run") or {}
    return {
        "rel": rel,
        "id": run_id(rel),
        "href": "../" + "/".join(quote(x) for x in rel.split("/")) + f"/{VIEW_DIR}/index.html",
        "env": run.get("env"),
        "split": run.get("split"),
        "policy": run.get("policy"),
        "llm": run.get("llm"),
        "label": run.get("label"),
        "score_label": run.get("score_label"),
        "strategies": meta.get("strategies") or [],
        "per_strategy": {
            s: {k: v[k] for k in ("episodes", "finished", "successes", "success_rate")}
            for s, v in (meta.get("per_strategy") or {}).items()
        },
        "counts": meta.get("counts") or {},
        "started_at": run.get("started_at"),
        "ended_at": run.get("ended_at"),
        "view_generated_at": meta.get("generated_at"),
        "error": None,
    }


def build_runs_view(
    folder: str | Path,
    *,
    index: str | Path | None = None,
    shard_size: int = 1000,
    progress: bool = False,
    search: bool = True,
) -> RunsViewResult:
    """Build every run's viewer below `folder` and the listing page in folder/view/.
    FileNotFoundError when the folder holds no run."""
    from lbi_icl.index import IndexFormatError

    started = time.monotonic()
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    runs = find_runs(root)
    if not runs:
        raise FileNotFoundError(
            f"{root}: not a run directory, and no runs found inside it (no folder below it "
            "has episodes.jsonl or a run's manifest.json)"
        )
    out = root / VIEW_DIR
    data = out / "data"
    (data / "runs").mkdir(parents=True, exist_ok=True)
    listed: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    episodes = 0
    for run in runs:
        rel = run.relative_to(root).as_posix()
        try:
            res = build_view(
                run, index=index, shard_size=shard_size, progress=progress, search=search
            )
        except (DataError, FileNotFoundError, IndexFormatError, ValueError, OSError) as e:
            failed[rel] = str(e).splitlines()[0]
            listed.append({"rel": rel, "id": run_id(rel), "error": failed[rel]})
            log.warning("%s: viewer not built: %s", run, failed[rel])
            continue
        episodes += res.episodes
        item = _summary(rel, res.meta)
        write_shard(data / "runs" / f"{item['id']}.js", f"outcomes:{item['id']}", res.outcomes)
        item["outcomes"] = f"data/runs/{item['id']}.js"
        listed.append(item)
    prune(data / "runs", {f"{it['id']}.js" for it in listed if "outcomes" in it})
    copy_static(out, RUNS_STATIC)
    atomic_write_text(out / "index.html", static_text("runs.html"))
    meta = {
        "format": FORMAT,
        "kind": "runs",
        "generated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "root": root.resolve().name,
        "runs": listed,
    }
    write_shard(data / "meta.js", "meta", meta)
    return RunsViewResult(
        out=out,
        index_html=out / "index.html",
        runs=runs,
        built=len(runs) - len(failed),
        failed=failed,
        episodes=episodes,
        seconds=time.monotonic() - started,
    )
