"""Constants and helpers shared by bench.py's parts: result tag, embedders, sizes, machine."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from benchstats import cpu_info

EMBEDDERS = {"hash": "hash", "minilm": None}  # bench name -> load_embedder() name
RESULT_TAG = "BENCH-RESULT "


def parse_size(text: str) -> int:
    """'10k' -> 10_000, '1M' -> 1_000_000, '2500' -> 2500."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 2000, 10k, 1M")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    value = int(float(m.group(1)) * mult)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: must be positive")
    return value


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def machine_info() -> dict[str, Any]:
    cpu = cpu_info()
    mem = "unknown"
    with contextlib.suppress(OSError):
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu["cpu_model"],
        "cpu_flags": cpu["cpu_flags"],
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
