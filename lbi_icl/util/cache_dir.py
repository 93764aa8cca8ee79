"""Where lbi_icl keeps its per-user caches (fixture models, ONNX exports, gold paths, venvs)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$LBI_CACHE_DIR`, else `$XDG_CACHE_HOME/lbi_icl`, else `~/.cache/lbi_icl`: one root, so
    one variable moves every cache (a CI cache volume, a bigger disk)."""
    explicit = os.environ.get("LBI_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lbi_icl"
