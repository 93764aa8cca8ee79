"""Seeds derived from names: the same on every process, machine and Python version."""

from __future__ import annotations

import hashlib


def stable_seed(*parts: object) -> int:
    """A seed from any parts, identical across processes and Python versions (no hash())."""
    blob = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "big")
