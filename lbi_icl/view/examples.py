"""Find the text of retrieved examples: the run's index, when it can still be found.

A step log records only each hit's id, score, rank, span and matched step; the example
itself lives in the index the run used (`config.index` in the run's manifest, or
`--index`). When that index is gone the viewer shows ids only and says why.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_OBS_CHARS = 4000


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_OBS_CHARS:
        return text
    return text[:MAX_OBS_CHARS] + f"… ({len(text) - MAX_OBS_CHARS} more characters)"


class ExampleSource:
    """Example and documentation-chunk lookups by id over one loaded index."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self._chunks: dict[str, Any] | None = None

    def _chunk(self, cid: str) -> Any:
        if self._chunks is None:
            try:
                self._chunks = {c.id: c for c in self.index.chunks}
            except Exception as e:  # an index without docs
                log.debug("no documentation chunks: %s", e)
                self._chunks = {}
        return self._chunks.get(cid)

    def lookup(self, eid: str) -> dict[str, Any] | None:
        try:
            t = self.index.get(eid)
        except KeyError:
            t = None
        if t is not None:
            src = t.source
            return {
                "kind": "example",
                "instruction": t.instruction,
                "instruction_kind": src.get("instruction_kind"),
                "source_kind": t.source_kind,
                "writer": src.get("writer"),
                "parent_id": src.get("parent_id"),
                "outcome": t.outcome,
                "steps": [[_cut(s.observation), s.action] for s in t.steps],
                "final": _cut(t.final_observation),
            }
        chunk = self._chunk(eid)
        if chunk is not None:
            return {"kind": "document", "title": chunk.title, "text": _cut(chunk.text)}
        return None

    def close(self) -> None:
        self.index.close()


def _resolve(run: Path, configured: str) -> Path | None:
    p = Path(configured)
    if p.is_absolute():
        return p if p.is_dir() else None
    for base in (Path.cwd(), run, run.parent, run.parent.parent):
        if (base / p).is_dir():
            return base / p
    return None


def open_examples(
    run: Path, manifest: dict[str, Any], override: str | Path | None
) -> tuple[ExampleSource | None, str | None]:
    """The run's index as an ExampleSource, or None and a note saying why not."""
    configured = override if override is not None else (manifest.get("config") or {}).get("index")
    if not configured:
        return None, "the run used no index"
    path = _resolve(run, str(configured))
    if path is None:
        return None, f"index {configured} not found: showing example ids only (--index DIR)"
    from lbi_icl.index import IndexFormatError, load_index

    try:
        index = load_index(path)
    except IndexFormatError as e:
        return None, f"index {path} unreadable ({e}): showing example ids only"
    note = None
    recorded = manifest.get("index_manifest_sha256")
    if recorded:
        current = hashlib.sha256((path / "manifest.json").read_bytes()).hexdigest()
        if current != recorded:
            note = f"index {path} changed since the run: example texts may differ"
    return ExampleSource(index), note
