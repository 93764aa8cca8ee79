"""Real texts for the embedder-backend tests (one list for the ONNX and OpenVINO modules)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from lbi_icl.data import Trajectory

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "retrieval"


def real_texts() -> list[str]:
    """ScienceWorld task descriptions (shipped), and the fixture trajectories' instructions,
    observations and actions, plus a long text that hits the 256-token truncation."""
    with gzip.open(ROOT / "lbi_icl/envs/scienceworld_tasks.json.gz") as fh:
        raw = json.loads(fh.read())
    texts: list[str] = []
    for task in raw["tasks"].values():
        texts.extend(task["descriptions"][:3])
    for line in (FIXTURES / "trajectories.jsonl").read_text().splitlines():
        traj = Trajectory.model_validate_json(line)
        texts.append(traj.instruction)
        for step in traj.steps:
            texts.extend([step.observation, step.action])
    texts.append(" ".join(texts[:12]))  # > 256 word pieces
    texts.append("x")
    return list(dict.fromkeys(texts))


def one_trajectory() -> list[Trajectory]:
    line = (FIXTURES / "trajectories.jsonl").read_text().splitlines()[0]
    return [Trajectory.model_validate_json(line)]
