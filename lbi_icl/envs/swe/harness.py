"""The official SWE-bench harness (`--env-option harness=swebench`): grading runs in the
instance's SWE-bench Docker image through `python -m swebench.harness.run_evaluation`.

It needs the `docker` command with a running engine and the `swebench` package; where they
are missing `check_harness` fails at environment construction, before any episode, with
what is missing and how to get it. (This machine has no Docker engine, so this path is
exercised only up to that check.)"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

from lbi_icl.envs.base import EnvError
from lbi_icl.envs.registry import EnvNotInstalledError
from lbi_icl.envs.swe.grading import GradeResult
from lbi_icl.envs.swe.predictions import Prediction, write_predictions
from lbi_icl.envs.swe.records import SWEInstance

MODEL_NAME = "lbi_icl"


def check_harness() -> None:
    missing = []
    if shutil.which("docker") is None:
        missing.append("the `docker` command (Docker Engine: https://docs.docker.com/engine/)")
    if importlib.util.find_spec("swebench") is None:
        missing.append("the `swebench` package (pip install swebench)")
    if missing:
        raise EnvNotInstalledError(
            "harness=swebench needs " + " and ".join(missing) + "; use harness=local "
            "(the default) to grade with pytest in the workspace"
        )
    proc = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EnvNotInstalledError(
            f"harness=swebench: the Docker engine is not reachable (`docker info`: "
            f"{proc.stderr.strip()[:300]})"
        )


def swebench_grade(inst: SWEInstance, diff: str, *, workdir: Path) -> GradeResult:
    """Evaluate one prediction with the official harness; reads its per-instance report."""
    run_id = f"lbi-{inst.instance_id}".replace("/", "_")
    preds = workdir / "predictions.jsonl"
    dataset = workdir / "dataset.json"
    write_predictions(
        preds,
        [Prediction(instance_id=inst.instance_id, model_name_or_path=MODEL_NAME, model_patch=diff)],
    )
    dataset.write_text(json.dumps([inst.model_dump(mode="json")]))
    cmd = [
        sys.executable,
        "-m",
        "swebench.harness.run_evaluation",
        "--dataset_name",
        str(dataset),
        "--predictions_path",
        str(preds),
        "--instance_ids",
        inst.instance_id,
        "--run_id",
        run_id,
        "--max_workers",
        "1",
    ]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False)
    reports = list(workdir.rglob("report.json"))
    if proc.returncode != 0 or not reports:
        raise EnvError(
            f"instance {inst.instance_id}: the SWE-bench harness failed: "
            f"{(proc.stderr or proc.stdout).strip()[-800:]}"
        )
    report = json.loads(reports[0].read_text()).get(inst.instance_id, {})
    status = report.get("tests_status", {})
    f2p_ok = set(status.get("FAIL_TO_PASS", {}).get("success", []))
    p2p_ok = set(status.get("PASS_TO_PASS", {}).get("success", []))
    f2p = {t: t in f2p_ok for t in inst.FAIL_TO_PASS}
    p2p = {t: t in p2p_ok for t in inst.PASS_TO_PASS}
    total = len(f2p) + len(p2p)
    return GradeResult(
        success=bool(report.get("resolved")),
        score=round((sum(f2p.values()) + sum(p2p.values())) / total, 6) if total else 0.0,
        fail_to_pass=f2p,
        pass_to_pass=p2p,
        diff=diff,
        test_seconds=0.0,
    )
