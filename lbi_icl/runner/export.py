"""`lbi export`: a run's episodes as Trajectories (source kind `agent_run`), so a run's
successes can be indexed again with `lbi index add`."""

from __future__ import annotations

import json
from pathlib import Path

from lbi_icl.data import Step, Trajectory
from lbi_icl.jsonl import DataError, DataProblem, iter_records, write_jsonl
from lbi_icl.runner.manifest import read_manifest
from lbi_icl.runner.results import EpisodeRecord, is_finished, latest_records


def _from_steps(run_dir: Path, rec: EpisodeRecord, instruction: str) -> Trajectory | None:
    """Rebuild a trajectory from the step log when the episode stored none."""
    path = run_dir / rec.steps_log
    if not path.exists():
        return None
    steps: list[Step] = []
    final = None
    for lineno, row in iter_records(path, allow_torn_tail=True):
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
    if rec.trajectory_file and (run / rec.trajectory_file).exists():
        traj = Trajectory.model_validate(
            json.loads((run / rec.trajectory_file).read_text(encoding="utf-8"))
        )
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


def export_run(run_dir: str | Path, out: str | Path, *, include_all: bool = False) -> int:
    """Write successful episodes (all finished ones with `include_all`) as JSONL; count."""
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
    return write_jsonl(out, trajs)
