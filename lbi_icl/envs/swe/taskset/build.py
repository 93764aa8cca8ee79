"""Build the offline SWE task set: real projects → git repositories → verified buggy
instances in SWE-bench format, split by project.

Per project: fetch and verify the pinned sdist (or copy a local folder), commit it with a
fixed identity and date, run its tests once (the *fix* run: that tree is what every patch
restores), enumerate AST mutations of the functions its tests mention, and run each
mutant against the test files that mention the mutated function (the *bug* run). A mutant
becomes an instance when some tests that passed in the fix run fail (FAIL_TO_PASS) and
some still pass (PASS_TO_PASS). Choices follow a seeded order, and results are cached per
candidate under `OUT/.cache`, so an interrupted build resumes and the same seed writes the
same bytes (timings go only to `build_report.json`).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import queue
import random
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.data import Document
from lbi_icl.envs.swe.grading import run_pytest
from lbi_icl.envs.swe.taskset import gitrepo
from lbi_icl.envs.swe.taskset.mutate import Mutation, find_mutations
from lbi_icl.envs.swe.taskset.spec import (
    ProjectSpec,
    copy_local,
    extract_sdist,
    fetch_sdist,
    load_spec,
)
from lbi_icl.envs.swe.taskset.statement import llm_statement, offline_statement
from lbi_icl.envs.swe.workspace import default_cache_dir, ensure_venv, shell_environment
from lbi_icl.jsonl import atomic_write_text
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import load_prompts
from lbi_icl.synth.config import stable_seed

log = logging.getLogger(__name__)

DOC_SUFFIXES = (".rst", ".md", ".txt")
MAX_DOC_CHARS = 60_000


class BuildConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path
    spec: Path | None = None  # default: the packaged projects.json
    seed: int = 0
    per_project: int = Field(default=30, ge=1, description="instances kept per project")
    max_candidates: int = Field(default=70, ge=1, description="mutants tried per project")
    max_per_function: int = Field(default=4, ge=1, description="distinct kinds")
    max_test_files: int = Field(default=3, ge=1, description="test files run per mutant")
    workers: int = Field(default=2, ge=1)
    projects: list[str] | None = None  # subset of the spec's projects
    cache_dir: Path | None = None  # sdists and virtualenvs (default ~/.cache/lbi_icl/swe)
    llm: str | None = None  # problem statements by this LLM (spec, for the record)
    # prompt template overrides of the statement writer (swe_statement_*; lbi_icl/prompts)
    prompts: dict[str, str] = Field(default_factory=dict)


class ProjectReport(BaseModel):
    name: str
    split: str
    candidates: int = 0
    tried: int = 0
    verified: int = 0
    kept: int = 0
    baseline_tests: int = 0
    seconds: float = 0.0
    kinds: dict[str, int] = Field(default_factory=dict)


class BuildReport(BaseModel):
    out: str
    seed: int
    projects: list[ProjectReport] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Candidate:
    mutation: Mutation
    test_files: list[str]


def _files_under(root: Path, entries: list[str], test: bool) -> list[str]:
    out: set[str] = set()
    for entry in entries:
        p = root / entry
        if p.is_file():
            out.add(entry)
        elif p.is_dir():
            for f in p.rglob("*.py"):
                rel = f.relative_to(root).as_posix()
                name = f.name
                is_test = name.startswith("test_") or name.endswith("_test.py")
                in_tests = "/tests/" in f"/{rel}" or "/test/" in f"/{rel}"
                if (test and is_test) or (not test and not is_test and not in_tests):
                    out.add(rel)
    return sorted(out)


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


class _ProjectBuild:
    def __init__(self, cfg: BuildConfig, project: ProjectSpec, spec_dir: Path, llm: LLM | None):
        self.cfg, self.p, self.spec_dir, self.llm = cfg, project, spec_dir, llm
        self.prompts = load_prompts(cfg.prompts)
        self.repo = cfg.out / "repos" / project.name
        self.cache = cfg.out / ".cache" / project.name
        self.work = cfg.out / ".work" / project.name
        self.cache_dir = cfg.cache_dir or default_cache_dir()
        self.report = ProjectReport(name=project.name, split=project.split)

    # -- repository ---------------------------------------------------------------------
    def prepare(self) -> str:
        state = self.cache / "repo.json"
        if (self.repo / ".git").is_dir() and state.exists():
            return str(json.loads(state.read_text())["base_commit"])
        shutil.rmtree(self.repo, ignore_errors=True)
        tmp = self.repo.with_name(f".{self.p.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if self.p.path is not None:
            copy_local((self.spec_dir / self.p.path).resolve(), tmp)
        else:
            extract_sdist(fetch_sdist(self.p, self.cache_dir / "sdists"), tmp)
        version = self.p.version or "local"
        base = gitrepo.init_repo(tmp, f"{self.p.name} {version} (from its source distribution)")
        self.repo.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, self.repo)
        self.cache.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state, json.dumps({"base_commit": base}))
        return base

    def scratch(self, i: int) -> Path:
        d = self.work / f"w{i}"
        if not d.exists():
            shutil.copytree(self.repo, d, ignore=shutil.ignore_patterns(".git"))
        return d

    # -- tests --------------------------------------------------------------------------
    def env(self, root: Path) -> dict[str, str]:
        venv = ensure_venv(self.cache_dir, self.p.name)
        src = root / "src"
        pp = [str(src), str(root)] if src.is_dir() else [str(root)]
        return shell_environment(venv, pp, self.work / f"home-{root.name}")

    def baseline(self, tests: list[str]) -> dict[str, str]:
        path = self.cache / "baseline.json"
        if path.exists():
            return dict(json.loads(path.read_text())["outcomes"])
        root = self.scratch(0)
        run = run_pytest(root, tests, self.env(root), timeout_s=900)
        if not run.outcomes:
            raise RuntimeError(
                f"{self.p.name}: the test run reported no tests (exit {run.exit_code}):\n"
                f"{run.output[-2000:]}"
            )
        atomic_write_text(
            path, json.dumps({"outcomes": run.outcomes, "seconds": run.seconds}, sort_keys=True)
        )
        return run.outcomes

    # -- candidates ---------------------------------------------------------------------
    def candidates(self, sources: list[str], tests: list[str]) -> list[_Candidate]:
        texts = {t: (self.repo / t).read_text(encoding="utf-8", errors="replace") for t in tests}
        by_function: dict[tuple[str, str], list[Mutation]] = {}
        for rel in sources:
            text = (self.repo / rel).read_text(encoding="utf-8")
            for m in find_mutations(rel, text):
                by_function.setdefault((m.file, m.function), []).append(m)
        rng = random.Random(stable_seed("swe-taskset", self.cfg.seed, self.p.name))
        keys = sorted(by_function)
        rng.shuffle(keys)
        chosen: dict[tuple[str, str], list[_Candidate]] = {}
        for key in keys:
            files = self._relevant(key[1], texts)
            if not files:
                continue
            muts = list(by_function[key])
            rng.shuffle(muts)
            # prefer distinct kinds within a function
            picked: list[Mutation] = []
            for m in muts:
                if all(m.kind != q.kind for q in picked):
                    picked.append(m)
                if len(picked) >= self.cfg.max_per_function:
                    break
            chosen[key] = [_Candidate(m, files) for m in picked]
        out: list[_Candidate] = []
        for rank in range(self.cfg.max_per_function):
            out += [c[rank] for key in keys if len(c := chosen.get(key, [])) > rank]
        self.report.candidates = len(out)
        return out[: self.cfg.max_candidates]

    def _relevant(self, function: str, texts: dict[str, str]) -> list[str]:
        names = [part for part in function.split(".") if not part.startswith("__")]
        name = names[-1] if names else function.split(".")[0]
        if len(name) < 3:
            return []
        pat = re.compile(rf"\b{re.escape(name.lstrip('_'))}\b")
        counts = [(len(pat.findall(text)), f) for f, text in texts.items()]
        hits = sorted((-n, f) for n, f in counts if n > 0)
        return sorted(f for _, f in hits[: self.cfg.max_test_files])

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, c: _Candidate, root: Path, base: dict[str, str]) -> dict[str, Any]:
        target = root / c.mutation.file
        original = target.read_text(encoding="utf-8")
        target.write_text(c.mutation.mutated, encoding="utf-8")
        try:
            run = run_pytest(root, c.test_files, self.env(root), timeout_s=120)
        finally:
            target.write_text(original, encoding="utf-8")
        before = {
            n for n, o in base.items() if o == "passed" and n.split("::", 1)[0] in set(c.test_files)
        }
        f2p = sorted(n for n in before if run.outcomes.get(n) != "passed")
        p2p = sorted(n for n in before if run.outcomes.get(n) == "passed")
        return {
            "key": c.mutation.key,
            "fail_to_pass": f2p,
            "pass_to_pass": p2p,
            "messages": {n: run.messages[n] for n in f2p if n in run.messages},
            "timed_out": run.timed_out,
            "seconds": run.seconds,
        }

    def run_candidates(self, cands: list[_Candidate], base: dict[str, str]) -> list[dict[str, Any]]:
        results_path = self.cache / "results.jsonl"
        done: dict[str, dict[str, Any]] = {}
        if results_path.exists():
            for line in results_path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from an interrupted build
                done[rec["key"]] = rec
        pool_dirs: queue.Queue[Path] = queue.Queue()
        for i in range(self.cfg.workers):
            pool_dirs.put(self.scratch(i))

        def job(c: _Candidate) -> dict[str, Any]:
            root = pool_dirs.get()
            try:
                return self.evaluate(c, root, base)
            finally:
                pool_dirs.put(root)

        out: list[dict[str, Any]] = []
        kept = 0
        step = self.cfg.workers * 2
        with (
            concurrent.futures.ThreadPoolExecutor(self.cfg.workers) as ex,
            results_path.open("a", encoding="utf-8") as fh,
        ):
            for i in range(0, len(cands), step):
                batch = cands[i : i + step]
                todo = [c for c in batch if c.mutation.key not in done]
                for c, res in zip(todo, ex.map(job, todo), strict=True):
                    done[c.mutation.key] = res
                    fh.write(json.dumps(res, sort_keys=True) + "\n")
                    fh.flush()
                for c in batch:
                    res = done[c.mutation.key]
                    out.append(res)
                    kept += int(self._verified(res))
                log.info("%s: %d/%d tried, %d verified", self.p.name, len(out), len(cands), kept)
                if kept >= self.cfg.per_project:
                    break
        return out

    @staticmethod
    def _verified(res: dict[str, Any]) -> bool:
        return bool(res["fail_to_pass"]) and bool(res["pass_to_pass"]) and not res["timed_out"]

    # -- the whole project --------------------------------------------------------------
    def build(self) -> tuple[list[dict[str, Any]], list[Document]]:
        start = time.perf_counter()
        base_commit = self.prepare()
        tests = [
            t
            for t in _files_under(self.repo, self.p.tests, test=True)
            if t not in set(self.p.exclude_tests)
        ]
        sources = [
            s for s in _files_under(self.repo, self.p.sources, test=False) if s not in set(tests)
        ]
        base = self.baseline(tests)
        self.report.baseline_tests = sum(o == "passed" for o in base.values())
        cands = self.candidates(sources, tests)
        results = self.run_candidates(cands, base)
        self.report.tried = len(results)
        records: list[dict[str, Any]] = []
        for c, res in zip(cands, results, strict=False):
            if not self._verified(res):
                continue
            self.report.verified += 1
            if len(records) >= self.cfg.per_project:
                continue
            records.append(self.instance(c, res, base_commit))
            kind = c.mutation.kind
            self.report.kinds[kind] = self.report.kinds.get(kind, 0) + 1
        self.report.kept = len(records)
        self.report.seconds = round(time.perf_counter() - start, 2)
        return records, _documents(self.p, self.repo)

    def instance(self, c: _Candidate, res: dict[str, Any], base_commit: str) -> dict[str, Any]:
        m = c.mutation
        iid = f"{self.p.name}__{self.p.name}-{m.key}"
        bug = gitrepo.commit_file_change(
            self.repo,
            base_commit,
            m.file,
            m.mutated,
            f"{self.p.name} {self.p.version or 'local'}",
            f"refs/tags/{iid}",
        )
        patch = gitrepo.diff(self.repo, bug, base_commit)
        f2p, p2p = res["fail_to_pass"], res["pass_to_pass"]
        if self.llm is not None:
            statement = llm_statement(self.llm, self.p.name, f2p, res["messages"], self.prompts)
        else:
            statement = offline_statement(self.p.name, f2p, res["messages"])
        return {
            "instance_id": iid,
            "repo": f"repos/{self.p.name}",
            "base_commit": bug,
            "patch": patch,
            "test_patch": "",
            "problem_statement": statement,
            "FAIL_TO_PASS": f2p,
            "PASS_TO_PASS": p2p,
            "version": self.p.version or "local",
            "environment_setup_commit": base_commit,
            "split": self.p.split,
            "project": self.p.name,
            "mutation": {
                "kind": m.kind,
                "file": m.file,
                "function": m.function,
                "line": m.line,
                "description": m.description,
            },
            "statement_writer": f"llm:{self.cfg.llm}" if self.llm is not None else "template",
        }


def build_taskset(cfg: BuildConfig, *, llm: LLM | None = None) -> BuildReport:
    """Build (or resume) the task set into `cfg.out`: train.jsonl, test.jsonl, docs.jsonl,
    repos/, build_report.json."""
    start = time.perf_counter()
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
    report = BuildReport(out=str(cfg.out), seed=cfg.seed)
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    docs: list[Document] = []
    for project in projects:
        pb = _ProjectBuild(cfg, project, spec_dir, llm)
        records, project_docs = pb.build()
        splits[project.split] += records
        docs += project_docs
        report.projects.append(pb.report)
        log.info("%s: %d instances (%s)", project.name, len(records), project.split)
    for split, records in splits.items():
        records.sort(key=lambda r: r["instance_id"])
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic_write_text(cfg.out / f"{split}.jsonl", text)
        report.counts[split] = len(records)
    docs.sort(key=lambda d: d.id)
    atomic_write_text(cfg.out / "docs.jsonl", "".join(d.model_dump_json() + "\n" for d in docs))
    shutil.rmtree(cfg.out / ".work", ignore_errors=True)
    report.seconds = round(time.perf_counter() - start, 2)
    atomic_write_text(cfg.out / "build_report.json", report.model_dump_json(indent=2) + "\n")
    return report
