"""`lbi rescore RUN`: a run's episodes scored again from its run log, by the env when it
can score offline (`envs.base.OfflineScorer`: `swe` grades the recorded diff on a fresh
checkout; `webarena` runs WebArena's string_match / url_match on the final answer and URL
the episode recorded; the desktop envs run OSWorld's metric on the result files saved in
the run directory at the episode's end), into a new results file beside episodes.jsonl —
never over it. An episode the env cannot score offline (its evaluator reads the live site
or desktop) keeps its run outcome, with the env's reason (`envs.base.CannotRescore`).

The new file has episodes.jsonl's format (`runlog.read_record_file` reads it): one line
per episode (the latest record per key) with the rescored `success` / `score`, and a
`rescore` object holding the old outcome, whether the episode was rescored and why not. An
env without an offline scorer rescores nothing: the result says so in one line, with the
reason the env class gives (`no_offline_score`), and no file is written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lbi_icl.data import Task
from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.base import CannotRescore, EnvError, OfflineScorer, Rescored
from lbi_icl.envs.registry import UnknownEnvError, env_factory, make_env
from lbi_icl.runner.results import is_finished
from lbi_icl.runner.runlog import (
    EpisodeRecord,
    latest_records,
    read_manifest,
    read_steps,
    require_run_dir,
    run_file,
)

NO_SCORER = (
    "the env declares no offline scorer: its score is computed from the live environment's "
    "state, which the run log does not hold"
)


class RescoreRow(BaseModel):
    """One episode: its outcome in the run and, when rescored, the new one."""

    key: str
    strategy: str
    task_id: str
    seed: int
    old_success: bool
    old_score: float | None
    rescored: bool
    new_success: bool
    new_score: float | None
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.rescored and (
            self.new_success != self.old_success or self.new_score != self.old_score
        )


class RescoreResult(BaseModel):
    """What `rescore_run` did. `cannot`: the envs that cannot rescore offline, one line each
    (`cannot rescore offline: ENV: why`); then no episode is rescored and `out` is None."""

    run: Path
    env: str
    out: Path | None = None
    rows: list[RescoreRow] = Field(default_factory=list)
    cannot: list[str] = Field(default_factory=list)

    @property
    def rescored(self) -> int:
        return sum(r.rescored for r in self.rows)

    @property
    def changed(self) -> int:
        return sum(r.changed for r in self.rows)


def default_out(run: Path) -> Path:
    """RUN/rescore-<UTC time>.jsonl (a -N suffix when that name is taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out, n = run / f"rescore-{stamp}.jsonl", 1
    while out.exists():
        n += 1
        out = run / f"rescore-{stamp}-{n}.jsonl"
    return out


def offline_scorer(env_name: str) -> tuple[Any, str | None]:
    """The env's factory and, when it cannot score offline, why (None: it can). A class
    that says why it cannot (`no_offline_score`) cannot, even when it inherits `rescore`
    (VisualWebArena from WebArena, MiniWoB from nothing)."""
    try:
        factory = env_factory(env_name)
    except UnknownEnvError:
        return None, "unknown environment (not registered here)"
    except ImportError as e:
        return None, f"not installed here ({e})"
    why = getattr(factory, "no_offline_score", None)
    if why:
        return factory, str(why)
    if callable(getattr(factory, "rescore", None)):
        return factory, None
    return factory, NO_SCORER


def _files(run: Path) -> Any:
    """`OfflineScorer.rescore`'s `files`: a run-relative path a log names -> the file,
    never outside the run directory (`runlog.run_file`)."""

    def resolve(rel: str) -> Path:
        if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
            raise ValueError(f"{rel!r}: not a path relative to the run directory")
        return run_file(run, rel)

    return resolve


def _rescore_one(
    env: OfflineScorer, run: Path, rec: EpisodeRecord, task: Task | None
) -> tuple[Rescored | None, str]:
    if not is_finished(rec):
        return None, "ended in an infrastructure error: nothing was scored"
    if task is None:
        return None, "its task is not in the env's split here (gone, or refused on this machine)"
    steps, problems = read_steps(run_file(run, rec.steps_log), allow_torn_tail=True)
    if problems:
        return None, f"step log not read: {problems[0]}"
    try:
        res = env.rescore(task, steps, _files(run))
    except CannotRescore as e:
        return None, f"not rescored: {e}"
    except EnvError as e:
        return None, f"rescoring failed: {e}"
    if res is None:
        return None, "the log holds nothing to score (e.g. never submitted)"
    return res, res.note


def rescore_run(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    env_options: dict[str, Any] | None = None,
) -> RescoreResult:
    """Rescore `run_dir`'s episodes (latest record per key) and write the new results file
    (`out`, default `default_out`); `env_options` override the run's own. Raises
    FileExistsError when `out` exists (nothing is ever overwritten), DataError /
    NewerFormatError for a run log it cannot read."""
    run = require_run_dir(run_dir)
    manifest = read_manifest(run) or {}
    cfg = manifest.get("config") or {}
    env_name = str(cfg.get("env") or "")
    records = latest_records(run)
    result = RescoreResult(run=run, env=env_name)
    _factory, why = offline_scorer(env_name)
    if why is not None:
        result.cannot.append(f"cannot rescore offline: {env_name or '(no env)'}: {why}")
        return result
    target = Path(out) if out is not None else default_out(run)
    if target.exists():
        raise FileExistsError(f"{target}: exists; lbi rescore never overwrites a file")
    options = {**(cfg.get("env_options") or {}), **(env_options or {})}
    env: Any = make_env(env_name, **options)
    lines: list[str] = []
    at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        tasks = {t.id: t for t in env.tasks(str(cfg.get("split") or "test"))}
        for rec in records.values():
            new, note = _rescore_one(env, run, rec, tasks.get(rec.task_id))
            row = RescoreRow(
                key=rec.key,
                strategy=rec.strategy,
                task_id=rec.task_id,
                seed=rec.seed,
                old_success=rec.success,
                old_score=rec.score,
                rescored=new is not None,
                new_success=new.success if new else rec.success,
                new_score=new.score if new else rec.score,
                note=note,
            )
            result.rows.append(row)
            line = rec.model_dump(mode="json", exclude={"trajectory"})
            line.update(success=row.new_success, score=row.new_score)
            line["rescore"] = {
                "rescored": row.rescored,
                "changed": row.changed,
                "old_success": row.old_success,
                "old_score": row.old_score,
                "note": note,
                "at": at,
            }
            lines.append(json.dumps({"format_version": line.pop("format_version"), **line}))
    finally:
        env.close()
    atomic_write_text(target, "".join(x + "\n" for x in lines))
    result.out = target
    return result
