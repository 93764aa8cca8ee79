"""Build the offline SWE task set: real projects → git repositories → verified buggy
instances in SWE-bench format, split by project.

Per project (`project.py`): fetch and verify the pinned sdist (or copy a local folder),
commit it with a fixed identity and date, run its tests once (the *fix* run: the tree every
patch restores), enumerate AST mutations (`mutate.py`, `blocks.py`) of the functions its
tests mention, and run each candidate bug against the test files that mention the mutated
function. A candidate becomes an instance when some tests that passed fail
(FAIL_TO_PASS), others still pass (PASS_TO_PASS) and the failing tests can be taken out of
the buggy commit (`testsplit.py`): they come back with the instance's `test_patch`, as in
SWE-bench. A share of each project's instances (`combined`) combines 2-3 verified
mutations into one bug with a multi-hunk (or multi-file) patch (`combine.py`).

All projects run at once, sharing one pool of `workers` test runs (`runner.py`, pytest
fork servers). Choices follow a seeded order and every test run is cached under
`OUT/.cache`, so an interrupted build resumes and the same seed writes the same bytes
whatever the number of workers (timings go only to `build_report.json`).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from lbi_icl.data import Document
from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.swe.taskset.build_config import BuildConfig, BuildReport
from lbi_icl.envs.swe.taskset.instance import Draft
from lbi_icl.envs.swe.taskset.project import ProjectBuild
from lbi_icl.envs.swe.taskset.runner import TestRunner
from lbi_icl.envs.swe.taskset.spec import ProjectSpec, load_spec
from lbi_icl.envs.swe.taskset.statement import llm_statement, offline_statement
from lbi_icl.envs.swe.workspace import default_cache_dir, ensure_venv
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import load_prompts

log = logging.getLogger(__name__)

DOC_SUFFIXES = (".rst", ".md", ".txt")
MAX_DOC_CHARS = 60_000


def _documents(project: ProjectSpec, root: Path) -> list[Document]:
    files: list[Path] = []
    for entry in project.docs:
        p = root / entry
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix in DOC_SUFFIXES and f.is_file())
    docs = []
    for f in files:
        rel = f.relative_to(root).as_posix()
        text = f.read_text(encoding="utf-8", errors="replace")[:MAX_DOC_CHARS]
        if text.strip():
            docs.append(
                Document(
                    id=f"swe/{project.name}/{rel}",
                    env="swe",
                    title=f"{project.name}: {rel}",
                    text=text,
                    source={"project": project.name, "version": project.version, "path": rel},
                )
            )
    return docs


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in load],
    }


def write_statements(cfg: BuildConfig, drafts: list[Draft], llm: LLM | None) -> None:
    """Fill each draft's problem statement: the LLM's for the splits it writes, else the
    offline template's (both read the failing tests only, never the patch)."""
    prompts = load_prompts(cfg.prompts)
    # round robin over the projects: a long LLM job that is stopped has some of each
    by_project: dict[str, list[Draft]] = {}
    for d in drafts:
        by_project.setdefault(d.record["project"], []).append(d)
    queues = list(by_project.values())
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    by_llm = [
        d
        for d in order
        if llm is not None and (cfg.llm_splits is None or d.record["split"] in cfg.llm_splits)
    ]
    for i, d in enumerate(by_llm):
        r = d.record
        assert llm is not None
        r["problem_statement"] = llm_statement(
            llm, r["project"], r["FAIL_TO_PASS"], d.messages, prompts, d.test_texts
        )
        r["statement_writer"] = f"llm:{cfg.llm}"
        log.info("statement %d/%d by %s: %s", i + 1, len(by_llm), cfg.llm, r["instance_id"])
    for d in order:
        r = d.record
        if "statement_writer" in r:
            continue
        r["problem_statement"] = offline_statement(
            r["project"], r["FAIL_TO_PASS"], d.messages, d.test_texts
        )
        r["statement_writer"] = "template"


def verified_drafts(cfg: BuildConfig) -> tuple[list[Draft], list[ProjectBuild], int]:
    """Every project of `cfg` built (or read back from its cache) up to verified instances
    without problem statements: the drafts sorted by instance id, the project builds and
    the number of test runs made."""
    spec, spec_dir = load_spec(cfg.spec)
    projects = spec.projects
    if cfg.projects:
        unknown = sorted(set(cfg.projects) - {p.name for p in projects})
        if unknown:
            raise ValueError(
                f"unknown projects {unknown}; the spec has {[p.name for p in projects]}"
            )
        projects = [p for p in projects if p.name in set(cfg.projects)]
    cfg.out.mkdir(parents=True, exist_ok=True)
    # every project's virtualenv is the same (the host's packages, nothing installed), so
    # one fork server per worker thread serves them all
    venv = ensure_venv(cfg.cache_dir or default_cache_dir(), "taskset-builder")
    runner = TestRunner(cfg.workers, cfg.runner, python=str(venv / "bin" / "python"))
    builds = [ProjectBuild(cfg, p, spec_dir, runner) for p in projects]
    try:
        with concurrent.futures.ThreadPoolExecutor(len(builds), thread_name_prefix="project") as ex:
            results = list(ex.map(lambda pb: pb.build(), builds))
    finally:
        runner.close()
    drafts = sorted(
        (d for project_drafts, _ in results for d in project_drafts),
        key=lambda d: d.record["instance_id"],
    )
    return drafts, builds, runner.runs


def build_taskset(cfg: BuildConfig, *, llm: LLM | None = None) -> BuildReport:
    """Build (or resume) the task set into `cfg.out`: train.jsonl, test.jsonl, docs.jsonl,
    repos/, build_report.json."""
    start = time.perf_counter()
    report = BuildReport(out=str(cfg.out), seed=cfg.seed, workers=cfg.workers, runner=cfg.runner)
    report.machine = _machine()
    drafts, builds, test_runs = verified_drafts(cfg)
    write_statements(cfg, drafts, llm)
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    for d in drafts:
        splits[d.record["split"]].append(d.record)
        kind = d.record["mutation"]["kind"]
        report.kinds[kind] = report.kinds.get(kind, 0) + 1
        writer = d.record["statement_writer"]
        report.statement_writers[writer] = report.statement_writers.get(writer, 0) + 1
    for split, records in splits.items():
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic_write_text(cfg.out / f"{split}.jsonl", text)
        report.counts[split] = len(records)
    docs = sorted((d for pb in builds for d in _documents(pb.p, pb.repo)), key=lambda d: d.id)
    atomic_write_text(cfg.out / "docs.jsonl", "".join(d.model_dump_json() + "\n" for d in docs))
    shutil.rmtree(cfg.out / ".work", ignore_errors=True)
    report.projects = [pb.report for pb in builds]
    report.test_runs = test_runs
    report.seconds = round(time.perf_counter() - start, 2)
    if hasattr(os, "getloadavg"):
        report.machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    atomic_write_text(cfg.out / "build_report.json", report.model_dump_json(indent=2) + "\n")
    for pb in builds:
        log.info("%s: %d instances (%s)", pb.p.name, pb.report.kept, pb.p.split)
    return report
