"""The paper's Algorithm 1, streamed and resumable.

documents → tasks → rollouts → backward construction → filters, task by task in a fixed
order. After each task its examples (and raw trajectories) are appended to the output and
a small state file records how many tasks are done and how many bytes each output holds.
A rerun after a crash truncates the outputs to those sizes and continues with the next
task; every random choice is seeded from (seed, task, explorer), never from a shared
stream, so a killed-and-resumed run writes exactly the bytes a clean run writes.

Files next to OUT.jsonl: OUT.raw.jsonl (raw trajectories; windows replay from them),
OUT.jsonl.state.json (resume state, kept when done) and OUT.report.json (stage counts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from lbi_icl.data import Trajectory
from lbi_icl.data.jsonl import JsonlAppender, atomic_write_text, read_jsonl, write_jsonl
from lbi_icl.envs.base import Env, env_tasks
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import names_of
from lbi_icl.synth.backward import LLMRelabeler, select_windows, window_example
from lbi_icl.synth.base import Relabeler, WindowChecker
from lbi_icl.synth.config import SynthConfig, SynthReport, stable_seed
from lbi_icl.synth.explore import Explorer, Rolled
from lbi_icl.synth.failed_steps import cut_failed_steps, failed_test
from lbi_icl.synth.filters import Committee, content_key, drop_repeated_steps
from lbi_icl.synth.progress import synth_progress as _progress
from lbi_icl.synth.ray_rollouts import SynthExecutor, task_rollouts
from lbi_icl.synth.relabel_view import view_name
from lbi_icl.synth.relabelers import get_checker, get_relabeler
from lbi_icl.synth.self_instruct import SynthTask, self_instruct
from lbi_icl.synth.task_order import spread_tasks
from lbi_icl.synth.usage import CountedLLM
from lbi_icl.util.changes import setting_changes
from lbi_icl.util.locks import hold
from lbi_icl.util.status import status

log = logging.getLogger(__name__)

STATE_VERSION = 1


class SynthState(BaseModel):
    """The resume record (OUT.jsonl.state.json)."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    fingerprint: str
    tasks: list[SynthTask]
    tasks_done: int = 0
    out_bytes: int = 0
    raw_bytes: int = 0
    report: SynthReport


class SynthConflictError(ValueError):
    """The output exists from another configuration (or without a state file)."""


def paths_for(out: Path) -> dict[str, Path]:
    stem = out.name[: -len(".jsonl")] if out.name.endswith(".jsonl") else out.name
    return {
        "out": out,
        "raw": out.with_name(f"{stem}.raw.jsonl"),
        "state": out.with_name(f"{out.name}.state.json"),
        "report": out.with_name(f"{stem}.report.json"),
        # the env's documents (self-instruct input); `lbi index build` finds them for RAG
        "docs": out.with_name(f"{stem}.docs.jsonl"),
    }


def _truncate(path: Path, size: int) -> None:
    if not path.exists():
        if size:
            raise SynthConflictError(f"{path}: missing, but the state file says {size} bytes")
        return
    if path.stat().st_size < size:
        raise SynthConflictError(
            f"{path}: shorter ({path.stat().st_size} bytes) than the state file records "
            f"({size}); it was changed outside the synthesis — rerun with overwrite"
        )
    with open(path, "rb+") as fh:
        fh.truncate(size)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class _Run:
    def __init__(
        self,
        config: SynthConfig,
        out: Path,
        env: Env,
        llm: LLM | None,
        committee: list[LLM],
        report: SynthReport,
    ):
        self.config = config
        self.env = env
        self.report = report
        self.prompts = config.prompt_set()
        self.llm = CountedLLM(llm, report) if llm is not None else None
        members = [CountedLLM(m, report) for m in committee]
        self.committee = (
            Committee(members, seed=config.seed, prompts=self.prompts) if committee else None
        )
        self.relabeler = self._make_relabeler()
        self.checker: WindowChecker | None = get_checker(env.name) if config.env_check else None
        self.seen: set[str] = set()
        self.explorer = Explorer(config, env, self.llm, prompts=self.prompts)
        if "llm" in config.explorers and self.llm is None:
            raise ValueError("explorer 'llm' needs an LLM (--llm SPEC)")
        report.config = config
        report.raw_output = None

    def _make_relabeler(self) -> Relabeler:
        c = self.config
        if c.writer == "llm":
            if self.llm is None:
                raise ValueError("writer 'llm' needs an LLM (--llm SPEC)")
            return LLMRelabeler(
                self.llm,
                kinds=tuple(c.kinds),
                temperature=c.temperature,
                seed=c.seed,
                prompts=self.prompts,
            )
        return get_relabeler(self.env.name)

    def stages(self) -> dict[str, Any]:
        c = self.config
        return {
            "tasks": "env task list" if c.task_source == "env" else f"self-instruct ({c.llm})",
            "explorers": list(c.explorers),
            "writer": getattr(self.relabeler, "name", type(self.relabeler).__name__),
            "env_check": self.checker.name if self.checker is not None else None,
            "committee": list(c.committee),
            # what the LLM writer and the committee see of web observations (relabel_view.py)
            "llm_observation_view": (
                view_name(self.env.name) if c.writer == "llm" or c.committee else None
            ),
            "prompts": self.prompts.describe(names_of("synth")),
        }

    # -- one task: stages 2-4 -----------------------------------------------------------

    def process(
        self, st: SynthTask, rolled: list[Rolled] | None = None
    ) -> tuple[list[Trajectory], list[Trajectory]]:
        """Stages 3-4 on `st`'s rollouts (`rolled`, made elsewhere, or made here now)."""
        r = self.report
        if rolled is None:
            rolled = self.explorer.rollouts(st)
        raws: list[Trajectory] = []
        examples: list[Trajectory] = []
        for item in rolled:
            explorer, ro = item.explorer, item.rollout
            per = r.by_explorer.setdefault(explorer, {"attempted": 0, "raw": 0, "examples": 0})
            per["attempted"] += 1
            r.add("rollouts_attempted")
            r.seconds["rollouts"] = round(r.seconds.get("rollouts", 0.0) + item.seconds, 3)
            if ro.trajectory is None or not ro.trajectory.steps:
                r.add("rollouts_skipped")
                why = ro.skipped or "empty trajectory"
                r.skipped[why] = r.skipped.get(why, 0) + 1
                continue
            traj = ro.trajectory
            raws.append(traj)
            per["raw"] += 1
            r.add("raw_trajectories")
            r.add("raw_steps", len(traj.steps))
            new = self.backward_and_filter(traj)
            per["examples"] += len(new)
            examples.extend(new)
        return raws, examples

    def backward_and_filter(self, parent: Trajectory) -> list[Trajectory]:
        c, r = self.config, self.report
        windows = select_windows(
            len(parent.steps),
            min_len=c.window_min,
            max_len=c.window_max,
            cap=c.windows_per_trajectory,
            seed=stable_seed(c.seed, parent.id, "windows"),
        )
        r.add("windows", len(windows))
        kept: list[Trajectory] = []
        for start, end in windows:
            t0 = time.perf_counter()
            instructions = [
                wi for wi in self.relabeler.relabel(parent, start, end) if wi.kind in c.kinds
            ]
            self._time("backward", t0)
            per_kind: dict[str, int] = {}
            for wi in instructions:
                index = per_kind.get(wi.kind, 0)
                per_kind[wi.kind] = index + 1
                example = window_example(parent, start, end, wi, index)
                r.add("examples_backward")
                t0 = time.perf_counter()
                ok = self.filter(parent, start, end, wi, example)
                self._time("filters", t0)
                if ok is not None:
                    kept.append(ok)
                    r.add("examples_final")
                    r.by_kind[wi.kind] = r.by_kind.get(wi.kind, 0) + 1
        return kept

    def filter(
        self, parent: Trajectory, start: int, end: int, wi: Any, example: Trajectory
    ) -> Trajectory | None:
        c, r = self.config, self.report
        if self.checker is not None and not self.checker.check(parent, start, end, wi):
            r.add("dropped_env_check")
            return None
        failed = failed_test(self.env.name) if c.failed_filter else None
        if failed is not None:
            example, cut = cut_failed_steps(example, failed)
            r.add("failed_steps_cut", cut)
            r.add("examples_with_failed_steps", int(cut > 0))
            if not example.steps:
                r.add("dropped_all_failed")
                return None
        if c.repeat_filter:
            example, dropped = drop_repeated_steps(example)
            r.add("repeat_steps_removed", dropped)
        if self.committee is not None:
            verdict = self.committee.judge(example)
            if not verdict.keep:
                r.add("dropped_committee")
                return None
            example.source["committee"] = verdict.votes
        if c.dedup:
            key = content_key(example)
            if key in self.seen:
                r.add("dropped_duplicates")
                return None
            self.seen.add(key)
        return example

    def _time(self, stage: str, t0: float) -> None:
        s = self.report.seconds
        s[stage] = round(s.get(stage, 0.0) + time.perf_counter() - t0, 3)


def _resolve_llms(
    config: SynthConfig, llm: LLM | None, committee: list[LLM] | None
) -> tuple[LLM | None, list[LLM]]:
    needs_llm = (
        config.task_source == "self_instruct" or "llm" in config.explorers or config.writer == "llm"
    )
    if llm is None and needs_llm:
        if config.llm is None:
            raise ValueError(
                "this configuration needs an LLM (self-instruct, llm explorer or llm writer): "
                "pass --llm SPEC"
            )
        from lbi_icl.llm import make_llm

        llm = make_llm(config.llm)
    if committee is None:
        committee = []
        if config.committee:
            from lbi_icl.llm import make_llm

            committee = [make_llm(spec) for spec in config.committee]
    return llm, committee


def synthesize(
    config: SynthConfig,
    out: Path | str,
    *,
    llm: LLM | None = None,
    committee: list[LLM] | None = None,
    env: Env | None = None,
    overwrite: bool = False,
    progress: bool = False,
    executor: SynthExecutor | None = None,
) -> SynthReport:
    """Run (or resume) a synthesis into `out` (plain .jsonl); returns the stage counts.

    `llm` serves self-instruct, the llm explorer and the llm writer (default: built from
    `config.llm`); `committee` overrides the members named in `config.committee`; `env`
    overrides `make_env(config.env, **config.env_options)` in this process (Ray workers make
    their own). `executor` says where rollouts run (default: here); the output is the same.
    A rerun with the same config resumes; a different config is refused unless `overwrite`.
    """
    out = Path(out)
    if out.suffix == ".gz":
        raise ValueError(f"{out}: synthesis appends record by record; use a plain .jsonl path")
    if out.is_dir():
        raise ValueError(f"{out}: is a directory; the output must be a .jsonl file")
    with hold(out):
        return _synthesize_locked(
            config, out, llm, committee, env, overwrite, progress, executor or SynthExecutor()
        )


def _synthesize_locked(
    config: SynthConfig,
    out: Path,
    llm: LLM | None,
    committee: list[LLM] | None,
    env: Env | None,
    overwrite: bool,
    progress: bool,
    executor: SynthExecutor,
) -> SynthReport:
    p = paths_for(out)
    for tmp in out.parent.glob(f".{out.name}.*.tmp"):  # left by a killed run (lock held)
        tmp.unlink(missing_ok=True)
    fingerprint = config.fingerprint()
    state = _load_state(p["state"])
    if state is not None and state.fingerprint != fingerprint and not overwrite:
        changes = setting_changes(
            state.report.config.model_dump(mode="json", exclude={"step_timeout_s"}),
            config.model_dump(mode="json", exclude={"step_timeout_s"}),
        ) or ["prompts: a template file's text changed"]
        raise SynthConflictError(
            f"{out} was started with a different configuration ({'; '.join(changes)}; "
            f"state: {p['state']}); pass overwrite=True (--overwrite) to start again, or the "
            "original settings to resume"
        )
    if state is None and not overwrite:
        # a new dataset: none of its files may exist yet (side files are outputs too)
        taken = [path for key, path in p.items() if key != "state" and path.exists()]
        if taken:
            names = ", ".join(str(x) for x in taken)
            raise SynthConflictError(
                f"{names} already exist{'s' if len(taken) == 1 else ''} and {out} has no "
                "state file (not a synthesis to resume); pass --overwrite to replace "
                f"{'it' if len(taken) == 1 else 'them'}, or choose another --out"
            )
    if overwrite:
        for path in p.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        state = None
    if state is not None and state.report.complete:
        log.info("%s is already complete", out)
        return state.report

    llm, committee_llms = _resolve_llms(config, llm, committee)
    own_env = env is None
    if env is None:
        from lbi_icl.envs.run_guard import env_for_run

        env = env_for_run(config.env, config.env_options, step_timeout_s=config.step_timeout_s)
    try:
        return _run(
            config, out, p, env, llm, committee_llms, state, fingerprint, progress, executor
        )
    finally:
        if own_env:
            env.close()


def _load_state(path: Path) -> SynthState | None:
    if not path.exists():
        return None
    try:
        return SynthState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise SynthConflictError(f"{path}: unreadable resume state ({e}); pass --overwrite") from e


def _save_state(path: Path, state: SynthState) -> None:
    atomic_write_text(path, state.model_dump_json(indent=1))


def _run(
    config: SynthConfig,
    out: Path,
    p: dict[str, Path],
    env: Env,
    llm: LLM | None,
    committee: list[LLM],
    state: SynthState | None,
    fingerprint: str,
    progress: bool,
    executor: SynthExecutor,
) -> SynthReport:
    started = time.perf_counter()
    report = state.report if state is not None else SynthReport(config=config, output=str(out))
    wall_before = report.seconds.get("total", 0.0)  # earlier runs of this dataset, if resumed

    def count_wall_time() -> None:
        """The total so far, saved with every task: a killed run's time up to its last
        finished task still counts when the dataset is resumed."""
        report.seconds["total"] = round(wall_before + time.perf_counter() - started, 3)

    run = _Run(config, out, env, llm, committee, report)
    report.raw_output = str(p["raw"]) if config.save_raw else None
    if state is None:
        t0 = time.perf_counter()
        docs = env.documents()
        report.counts["documents"] = len(docs)
        run._time("documents", t0)
        t0 = time.perf_counter()
        shown = progress and sys.stderr.isatty()
        if config.task_source == "self_instruct":
            assert run.llm is not None
            with status(
                f"self-instruct: {config.tasks} tasks from {len(docs)} documents…",
                enabled=shown,
            ):
                tasks = self_instruct(
                    env,
                    docs,
                    run.llm,
                    split=config.split,
                    n=config.tasks,
                    per_document=config.tasks_per_document,
                    seed=config.seed,
                    temperature=config.temperature,
                    prompts=run.prompts,
                )
        else:
            with status(f"listing {config.env}'s {config.split} tasks…", enabled=shown):
                if config.task_order == "spread":
                    listed = spread_tasks(env_tasks(env, config.split), config.tasks)
                else:
                    listed = env_tasks(env, config.split, config.tasks)
            tasks = [SynthTask(uid=t.id, task=t) for t in listed]
        run._time("tasks", t0)
        report.counts["tasks"] = len(tasks)
        for path in (p["out"], p["raw"]):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        state = SynthState(fingerprint=fingerprint, tasks=tasks, report=report)
        _save_state(p["state"], state)
        # written once the state exists: a run killed before leaves nothing to refuse
        write_jsonl(p["docs"], docs)
    else:
        _truncate(p["out"], state.out_bytes)
        if config.save_raw:
            _truncate(p["raw"], state.raw_bytes)
        if config.dedup and state.out_bytes:
            run.seen = {content_key(t) for t in read_jsonl(p["out"], Trajectory)}
        log.info("resuming %s at task %d/%d", out, state.tasks_done, len(state.tasks))
        if not p["docs"].exists():  # a dataset started before documents were written
            write_jsonl(p["docs"], env.documents())
    report.stages = run.stages()

    with contextlib.ExitStack() as stack:
        if (close_checker := getattr(run.checker, "close", None)) is not None:
            stack.callback(close_checker)  # a checker with its own simulator stops it
        writer = stack.enter_context(JsonlAppender(p["out"]))
        raw_writer = stack.enter_context(JsonlAppender(p["raw"])) if config.save_raw else None
        bar = stack.enter_context(_progress(progress, len(state.tasks), state.tasks_done))
        rolled_tasks = stack.enter_context(
            contextlib.closing(task_rollouts(state.tasks, state.tasks_done, config, executor))
        )  # closed on any exit, so Ray workers stop with the synthesis
        for k, st, rolled in rolled_tasks:
            raws, examples = run.process(st, rolled)
            if raw_writer is not None:
                for t in raws:
                    raw_writer.write(t)
            for t in examples:
                writer.write(t)
            # Records are flushed (not fsynced): enough for a killed process; the state
            # file below is written atomically and fsynced, and names the byte sizes.
            state.tasks_done = k + 1
            state.out_bytes = _size(p["out"])
            state.raw_bytes = _size(p["raw"]) if config.save_raw else 0
            report.tasks_done = k + 1
            count_wall_time()
            _save_state(p["state"], state)
            bar(report)
    report.complete = True
    count_wall_time()
    _save_state(p["state"], state)
    atomic_write_text(p["report"], json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    return report
