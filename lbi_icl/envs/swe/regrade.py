"""`lbi swe grade`: a predictions file graded here, never trusted more than an agent — each
patch applied to a fresh checkout of its base commit, then taken through the same submission
filter and clean-checkout grader as an episode's `submit` (predictions.py holds the format
alone, so the env's modules can write predictions without importing the env back). The
same grading re-scores a run's swe episodes from their recorded diffs (`SWEEnv.rescore`,
`lbi rescore`), so this module knows the env only by what it uses (`GradingEnv`)."""

from __future__ import annotations

import subprocess
from typing import Protocol

from pydantic import BaseModel, Field

from lbi_icl.data import Task
from lbi_icl.envs.base import EnvError
from lbi_icl.envs.swe.grading import grade
from lbi_icl.envs.swe.predictions import Prediction
from lbi_icl.envs.swe.records import SWEInstance
from lbi_icl.envs.swe.submission import Submission, encode_diff, take_submission
from lbi_icl.envs.swe.workspace import Workspace


class GradingEnv(Protocol):
    """What grading needs of a `SWEEnv`: a reset that makes a fresh workspace at the task's
    base commit, that workspace and instance, the test timeout, and close."""

    ws: Workspace | None
    instance: SWEInstance | None
    test_timeout: float

    def reset(self, task: Task) -> str: ...

    def close(self) -> None: ...


class GradedPrediction(BaseModel):
    instance_id: str
    model_name_or_path: str
    resolved: bool
    score: float
    fail_to_pass: str  # "passed/total"
    pass_to_pass: str
    excluded: list[str] = Field(default_factory=list)
    error: str | None = None


def grade_prediction(env: GradingEnv, task: Task, pred: Prediction) -> GradedPrediction:
    """Grade one prediction with `env`'s local grader (a `SWEEnv`): a fresh workspace at the
    base commit, the patch applied there, then the same submission filter and grader as
    an episode's `submit`."""
    env.reset(task)
    ws, inst = env.ws, env.instance
    assert ws is not None and inst is not None
    try:
        patch = pred.model_patch or ""
        error = None
        if patch.strip():
            proc = subprocess.run(
                ["git", "apply", "--binary", "--whitespace=nowarn", "-"],
                cwd=ws.path,
                input=encode_diff(patch),
                capture_output=True,
                check=False,
            )
            if proc.returncode != 0:
                error = f"patch does not apply: {proc.stderr.decode(errors='replace')[:300]}"
        if error is None:
            submission = take_submission(
                ws.base_git, ws.path, ws.base_sha, test_files=inst.protected_files()
            )
        else:
            submission = Submission(diff=patch, error=error)
        result = grade(ws, submission, timeout_s=env.test_timeout)
    except EnvError as e:
        raise EnvError(f"instance {pred.instance_id}: {e}") from e
    finally:
        env.close()
    return GradedPrediction(
        instance_id=pred.instance_id,
        model_name_or_path=pred.model_name_or_path,
        resolved=result.success,
        score=result.score,
        fail_to_pass=f"{sum(result.fail_to_pass.values())}/{len(result.fail_to_pass)}",
        pass_to_pass=f"{sum(result.pass_to_pass.values())}/{len(result.pass_to_pass)}",
        excluded=sorted(submission.excluded),
        error=result.error,
    )
