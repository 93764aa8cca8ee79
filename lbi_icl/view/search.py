"""Full-text search data of the viewer: data/search/s-NNN.js (steps) and x-NNN.js (texts
of the retrieved examples), each about `SHARD_CHARS` characters.

A step entry is `[step, observation, action, model output, [retrieved ids]]`; a step
shard is `{"episodes": [[slug, strategy index, task, seed], ...], "steps": [[episode
(index into this shard's episodes), step, obs, action, output, ids], ...]}`. An example
shard is `[[id, text], ...]`. The page (static/search.js) loads these shards, not the
step files: prompts, timings and the other step-log fields are left out, so search data
is a fraction of the step logs. A step matches when one of its texts contains the query
(case-insensitive substring), or when it retrieved an example whose text does.

Shards are rewritten only when their text changed (sha256 in data/search.sig.json).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.view.shards import shard_text

SHARD_CHARS = 1_000_000
FIELDS = ["observation", "action", "model output", "retrieved example"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def step_entries(steps: list[Any]) -> list[list[Any]]:
    """The searchable part of an episode's step-log lines."""
    out: list[list[Any]] = []
    for i, st in enumerate(steps):
        if not isinstance(st, dict):
            continue
        n = st.get("step")
        items = st.get("retrieved")
        ids = sorted(
            {str(it["id"]) for it in items if isinstance(it, dict) and "id" in it}
            if isinstance(items, list)
            else set()
        )
        out.append(
            [
                n if isinstance(n, int) and not isinstance(n, bool) else i,
                _text(st.get("observation")),
                _text(st.get("action")),
                _text(st.get("raw_output")),
                ids,
            ]
        )
    return out


def example_text(item: dict[str, Any]) -> str:
    """An example's (or documentation chunk's) text as it is searched."""
    if item.get("kind") == "document":
        return f"{item.get('title') or ''}\n{item.get('text') or ''}"
    parts = [str(item.get("instruction") or "")]
    for step in item.get("steps") or []:
        if isinstance(step, list | tuple) and len(step) == 2:
            parts.append(f"{step[0] or ''}\n> {step[1] or ''}")
    if item.get("final"):
        parts.append(str(item["final"]))
    return "\n".join(parts)


def _size(entry: list[Any]) -> int:
    return sum(len(x) for x in entry[1:4]) + 16 * len(entry[4]) + 16


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.sig_path = folder.parent / "search.sig.json"
        try:
            self.old: dict[str, str] = json.loads(self.sig_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.old = {}
        self.new: dict[str, str] = {}
        self.written = 0

    def write(self, name: str, payload: Any) -> str:
        text = shard_text(f"search:{name}", payload)
        digest = hashlib.sha256(text.encode("ascii")).hexdigest()
        path = self.folder / f"{name}.js"
        if self.old.get(name) != digest or not path.exists():
            atomic_write_text(path, text)
            self.written += 1
        self.new[name] = digest
        return f"data/search/{name}.js"

    def finish(self) -> None:
        for p in self.folder.glob("*.js"):
            if p.stem not in self.new:
                p.unlink()
        atomic_write_text(self.sig_path, json.dumps(self.new, sort_keys=True) + "\n")


def write_search(
    data: Path,
    episodes: list[tuple[str, int, str, int]],
    entries: dict[str, list[Any]],
    examples: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Write the search shards; `episodes` in list order (slug, strategy index, task,
    seed), `entries` by slug, `examples` by id. Returns the meta's `search` part."""
    w = _Writer(data / "search")
    step_files: list[dict[str, Any]] = []
    eps: list[list[Any]] = []
    rows: list[list[Any]] = []
    size = 0

    def flush() -> None:
        nonlocal eps, rows, size
        if not rows and not eps:
            return
        name = f"s-{len(step_files):03d}"
        step_files.append(
            {"file": w.write(name, {"episodes": eps, "steps": rows}), "steps": len(rows)}
        )
        eps, rows, size = [], [], 0

    total = 0
    for slug, strategy, task, seed in episodes:
        mine = entries.get(slug) or []
        if not mine:
            continue
        if size and size + sum(_size(e) for e in mine) > SHARD_CHARS:
            flush()
        eps.append([slug, strategy, task, seed])
        for e in mine:
            rows.append([len(eps) - 1, *e])
            size += _size(e)
        total += len(mine)
    flush()

    ex_files: list[dict[str, Any]] = []
    batch: list[list[str]] = []
    size = 0
    for eid in sorted(examples):
        text = example_text(examples[eid])
        if batch and size + len(text) > SHARD_CHARS:
            ex_files.append({"file": w.write(f"x-{len(ex_files):03d}", batch), "n": len(batch)})
            batch, size = [], 0
        batch.append([eid, text])
        size += len(text) + len(eid)
    if batch:
        ex_files.append({"file": w.write(f"x-{len(ex_files):03d}", batch), "n": len(batch)})
    w.finish()
    return {
        "steps": step_files,
        "examples": ex_files,
        "entries": total,
        "fields": FIELDS,
        "written": w.written,
    }
