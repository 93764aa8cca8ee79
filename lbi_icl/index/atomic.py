"""Atomic index directories: builds go to a temp folder beside the target and are swapped
into place; temp folders of killed builds are removed under the index's lock."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from lbi_icl.index import layout as L
from lbi_icl.index.errors import IndexBuildError


def remove_stale_temps(out: Path) -> None:
    """Temp folders of builds killed mid-way (called with the index's lock held)."""
    if out.parent.is_dir():
        for p in out.parent.glob(f".{out.name}.build-*"):
            shutil.rmtree(p, ignore_errors=True)


def _own_names(out: Path) -> set[str]:
    """Top-level names of the index files in `out` (from its manifest, plus the files an
    index keeps beside it): everything else there is somebody else's."""
    import json

    from lbi_icl.index.verify import NOT_LISTED

    try:
        files = json.loads((out / L.MANIFEST).read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        files = {}
    return {str(rel).split("/", 1)[0] for rel in files} | set(NOT_LISTED)


def swap_into_place(tmp: Path, out: Path) -> None:
    """Put the new index `tmp` at `out`. Only the old index's own files go: anything else in
    the folder (a user's notes, a run directory made inside) is moved into the new one."""
    if out.exists():
        if not (out / L.MANIFEST).exists() and any(out.iterdir()):
            raise IndexBuildError(f"{out}: exists and is not an index; refusing to replace it")
        own = _own_names(out)
        for entry in sorted(out.iterdir()):
            if entry.name not in own and not (tmp / entry.name).exists():
                os.replace(entry, tmp / entry.name)
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "index")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def temp_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.build-", dir=out.parent))
