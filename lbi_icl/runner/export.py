"""`lbi export`: a run's episodes as Trajectories (source kind `agent_run`), so a run's
successes can be indexed again with `lbi index add`; a `swe` run's graded patches as
SWE-bench predictions."""

from __future__ import annotations

import json
from pathlib import Path

from lbi_icl.data import Step, Trajectory
from lbi_icl.data.jsonl import DataError, DataProblem
from lbi_icl.envs.swe.predictions import Prediction, PredictionsError, submitted_diff
from lbi_icl.runner.results import is_finished
from lbi_icl.runner.runlog import (
    EpisodeRecord,
    iter_steps,
    latest_records,
    read_manifest,
    require_run_dir,
    run_file,
)


def _from_steps(run_dir: Path, rec: EpisodeRecord, instruction: str) -> Trajectory | None:
    """Rebuild a trajectory from the step log when the episode stored none."""
    path = run_file(run_dir, rec.steps_log)
    if not path.exists():
        return None
    steps: list[Step] = []
    final = None
    for lineno, row in iter_steps(path, allow_torn_tail=True):
        if isinstance(row, DataProblem):
            raise DataError([row])
        if row.get("action") is None:
            raise DataError([DataProblem(str(path), lineno, "action", "step without action")])
        steps.append(Step(observation=str(row["observation"]), action=str(row["action"])))
        final = row.get("next_observation")
    return Trajectory(
        id="tmp",
        env=rec.env,
        instruction=instruction,
        steps=steps,
        final_observation=final if isinstance(final, str) else None,
    )


def episode_trajectory(run_dir: str | Path, rec: EpisodeRecord) -> Trajectory | None:
    """The episode's Trajectory, labelled as an agent run of this run directory."""
    run = Path(run_dir)
    traj: Trajectory | None = None
    if rec.trajectory_file and (path := run_file(run, rec.trajectory_file)).exists():
        traj = Trajectory.model_validate(json.loads(path.read_text(encoding="utf-8")))
    if traj is None and rec.instruction is not None:
        traj = _from_steps(run, rec, rec.instruction)
    if traj is None:
        return None
    source = dict(traj.source)
    source.update(
        kind="agent_run",
        run=run.name,
        strategy=rec.strategy,
        policy=rec.policy,
        seed=rec.seed,
        task_id=rec.task_id,
    )
    metadata = dict(traj.metadata)
    metadata.setdefault("task_id", rec.task_id)
    if rec.score is not None:
        metadata["score"] = rec.score
    return traj.model_copy(
        update={
            "id": f"run:{run.name}:{rec.key}",
            "outcome": "success" if rec.success else "failure",
            "source": source,
            "metadata": metadata,
        }
    )


def export_run(
    run_dir: str | Path, out: str | Path, *, include_all: bool = False, fmt: str = "jsonl"
) -> int:
    """Write successful episodes (all finished ones with `include_all`) as trajectories in
    `fmt` (jsonl, parquet or hf: `dataset_io.py`); returns how many."""
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run directory")
    read_manifest(run)
    trajs: list[Trajectory] = []
    for rec in latest_records(run).values():
        if not is_finished(rec) or not (rec.success or include_all):
            continue
        traj = episode_trajectory(run, rec)
        if traj is not None:
            trajs.append(Trajectory.model_validate(traj.model_dump()))
    trajs.sort(key=lambda t: t.id)
    from lbi_icl.data.dataset_io import write_trajectories

    return write_trajectories(out, trajs, fmt)  # type: ignore[arg-type]


def model_name(rec: EpisodeRecord) -> str:
    """`model_name_or_path` for an episode: what acted (`retrieval`, `llm:openai:gpt-4o`,
    ...) and the retrieval strategy."""
    return f"lbi_icl/{rec.policy}/{rec.strategy}"


def _graded_diff(run_dir: Path, rec: EpisodeRecord) -> str:
    """The diff the episode's `submit` graded ("" when it never submitted)."""
    path = run_file(run_dir, rec.steps_log)
    if not path.exists():
        return ""
    rows = [row for _, row in iter_steps(path, allow_torn_tail=True) if isinstance(row, dict)]
    return submitted_diff(rows) or ""


def swebench_predictions(
    run_dir: str | Path, *, strategy: str | None = None, seed: int | None = None
) -> list[Prediction]:
    """One prediction per finished episode of a `swe` run (optionally one strategy / seed).
    Raises `PredictionsError` when an instance would appear twice (SWE-bench's harness
    keeps one prediction per instance): pick a strategy and seed."""
    run = require_run_dir(run_dir)
    cfg = (read_manifest(run) or {}).get("config", {})
    if cfg.get("env") != "swe":
        raise PredictionsError(f"{run}: a {cfg.get('env')!r} run; predictions need a swe run")
    recs = [
        r
        for r in latest_records(run).values()
        if is_finished(r)
        and (strategy is None or r.strategy == strategy)
        and (seed is None or r.seed == seed)
    ]
    seen: dict[str, EpisodeRecord] = {}
    for r in recs:
        if r.task_id in seen:
            strategies = sorted({x.strategy for x in recs})
            seeds = sorted({x.seed for x in recs})
            raise PredictionsError(
                f"{run}: instance {r.task_id} has several episodes (strategies {strategies}, "
                f"seeds {seeds}); the SWE-bench harness takes one prediction per instance: "
                "choose with --strategy and --seed"
            )
        seen[r.task_id] = r
    return [
        Prediction(
            instance_id=r.task_id,
            model_name_or_path=model_name(r),
            model_patch=_graded_diff(run, r),
        )
        for r in sorted(recs, key=lambda r: r.task_id)
    ]
