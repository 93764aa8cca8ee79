"""`build_taskset`: the project's desktop task set in OSWorld's layout.

```
DIR/build.json                          seed, tasks per family, families (a rerun must match)
DIR/examples/<domain>/<id>.json         OSWorld task files (+ `expert`, `family`)
DIR/files/<id>/<name>, gold_<name>      input and gold files (upload_file / local_file)
DIR/train.json, test.json, test_all.json  domain -> ids (split by task family)
```

Same seed, same bytes (seeded generators, fixed file metadata, sorted JSON). Resumable:
every file is written atomically and only when missing or different, the split files last.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.desktop.taskgen.spec import APP_DOMAIN, HOME, Family, GenTask, postconfig
from lbi_icl.util.seeds import stable_seed

FORMAT = 1


def all_families() -> list[Family]:
    from lbi_icl.envs.desktop.taskgen import calc, impress, writer

    return [*calc.FAMILIES, *writer.FAMILIES, *impress.FAMILIES]


def _write_bytes(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def task_json(task_id: str, g: GenTask, seed: int) -> dict[str, Any]:
    remote = f"{HOME}/{g.filename}"
    local = f"files/{task_id}/{g.filename}"
    evaluator: dict[str, Any]
    if g.metric == "infeasible":
        evaluator = {"func": "infeasible"}
    else:
        evaluator = {
            "postconfig": postconfig(g.app, g.filename),
            "func": g.metric,
            "result": {"type": "vm_file", "path": remote, "dest": g.filename},
            "options": g.options,
        }
        if g.gold is not None:
            evaluator["expected"] = {
                "type": "local_file",
                "path": f"files/{task_id}/gold_{g.filename}",
                "dest": f"gold_{g.filename}",
            }
    return {
        "id": task_id,
        "snapshot": APP_DOMAIN[g.app],
        "instruction": g.instruction,
        "source": f"lbi desktop build-tasks (seed {seed})",
        "config": [
            {
                "type": "upload_file",
                "parameters": {"files": [{"local_path": local, "path": remote}]},
            },
            {"type": "open", "parameters": {"path": remote}},
        ],
        "related_apps": [APP_DOMAIN[g.app]],
        "evaluator": evaluator,
        "family": g.family,
        "expert": g.expert,
    }


def build_taskset(
    out: Path, *, seed: int = 0, per_family: int = 7, families: list[str] | None = None
) -> dict[str, Any]:
    """Write (or complete) the task set; returns counts per split and how many files were
    (re)written. Raises ValueError when `out` holds a set built with other settings."""
    chosen = [f for f in all_families() if families is None or f.name in families]
    if families is not None and len(chosen) != len(set(families)):
        known = {f.name for f in all_families()}
        raise ValueError(f"unknown task families: {sorted(set(families) - known)}")
    settings = {"format": FORMAT, "seed": seed, "per_family": per_family,
                "families": [f.name for f in chosen]}  # fmt: skip
    manifest = out / "build.json"
    if manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        if old != settings:
            raise ValueError(
                f"{out} holds a task set built with other settings ({manifest}): "
                f"{old} != {settings}; use another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps(settings, indent=1, sort_keys=True) + "\n")
    splits: dict[str, dict[str, list[str]]] = {"train": {}, "test": {}}
    written = 0
    for fam in chosen:
        domain = APP_DOMAIN[fam.app]
        for k in range(per_family):
            rng = random.Random(stable_seed(seed, fam.name, k))
            g: GenTask = fam.make(rng)
            task_id = f"{fam.name}-{k:03d}"
            folder = out / "files" / task_id
            written += _write_bytes(folder / g.filename, g.input)
            if g.gold is not None:
                written += _write_bytes(folder / f"gold_{g.filename}", g.gold)
            text = json.dumps(task_json(task_id, g, seed), indent=1, sort_keys=True) + "\n"
            written += _write_bytes(out / "examples" / domain / f"{task_id}.json", text.encode())
            splits[fam.split].setdefault(domain, []).append(task_id)
    every: dict[str, list[str]] = {}
    for split, mapping in splits.items():
        atomic_write_text(out / f"{split}.json", json.dumps(mapping, indent=1) + "\n")
        for domain, ids in mapping.items():
            every.setdefault(domain, []).extend(ids)
    atomic_write_text(out / "test_all.json", json.dumps(every, indent=1) + "\n")
    return {
        "train": sum(len(v) for v in splits["train"].values()),
        "test": sum(len(v) for v in splits["test"].values()),
        "files_written": written,
    }
