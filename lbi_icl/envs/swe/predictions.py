"""SWE-bench predictions: written from a run (`lbi export --format swebench-predictions`,
`lbi_icl.runner.export.swebench_predictions`), so its patches can be graded independently
(by SWE-bench's own harness, or here by `lbi swe grade`), and read back for grading.

A predictions file is JSON lines of `instance_id`, `model_name_or_path`, `model_patch` (the
format `python -m swebench.harness.run_evaluation --predictions_path` reads; a JSON list is
accepted too). Grading them here is regrade.py's job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lbi_icl.data.jsonl import atomic_write_text, read_jsonl

FORMAT = "swebench-predictions"


class Prediction(BaseModel):
    model_config = ConfigDict(extra="allow")

    instance_id: str = Field(min_length=1)
    model_name_or_path: str = Field(min_length=1)
    model_patch: str | None = ""


class PredictionsError(ValueError):
    """A predictions file (or the run it should come from) is not usable; names the line."""


def submitted_diff(steps: Iterable[dict[str, Any]]) -> str | None:
    """The diff an episode's `submit` graded, from its step-log lines as written (the last
    step's `info["diff"]`); None when the episode never submitted."""
    diff = None
    for row in steps:
        info = row.get("info")
        if isinstance(info, dict) and isinstance(info.get("diff"), str):
            diff = info["diff"]
    return diff


def write_predictions(path: str | Path, preds: Iterable[Prediction]) -> int:
    """JSON lines for `.jsonl` (a JSON list for `.json`), written atomically; SWE-bench's
    harness reads only those two suffixes."""
    rows = [p.model_dump() for p in preds]
    suffix = Path(path).suffix
    if suffix == ".json":
        atomic_write_text(path, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    elif suffix == ".jsonl":
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    else:
        raise PredictionsError(f"{path}: a predictions file ends in .jsonl or .json")
    return len(rows)


def read_predictions(path: str | Path) -> list[Prediction]:
    """A JSON lines file (or a JSON list / an {instance_id: prediction} object, as SWE-bench
    accepts); errors name the file, the line and the field."""
    p = Path(path)
    if p.suffix != ".json":
        return list(read_jsonl(p, Prediction))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise PredictionsError(f"{p}: not JSON ({e})") from e
    items = list(data.values()) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise PredictionsError(f"{p}: expected a list of predictions")
    out: list[Prediction] = []
    for n, row in enumerate(items, 1):
        try:
            out.append(Prediction.model_validate(row))
        except ValidationError as e:
            where = "; ".join(
                f"{'.'.join(str(x) for x in err['loc']) or 'record'}: {err['msg']}"
                for err in e.errors()
            )
            raise PredictionsError(f"{p}: prediction {n}: {where}") from e
    return out
