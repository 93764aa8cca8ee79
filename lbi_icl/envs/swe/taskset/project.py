"""One project of the task set: its repository, its fix run, its candidate bugs (single
mutations, then combinations of verified ones), their test runs (on the shared runner,
cached per candidate under `OUT/.cache/PROJECT`) and the instances built from the kept
ones: the buggy commit without the failing tests, `patch` (sources only) and `test_patch`
(the failing tests put back), checked by tree identity and by a run of the instance's
own test files on the fixed tree.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.swe.taskset import gitrepo
from lbi_icl.envs.swe.taskset.build_config import BuildConfig, ProjectReport
from lbi_icl.envs.swe.taskset.candidates import Relevance, select
from lbi_icl.envs.swe.taskset.combine import Bug, combine
from lbi_icl.envs.swe.taskset.instance import Candidate, Draft, make_instance
from lbi_icl.envs.swe.taskset.spec import ProjectSpec, copy_local, extract_sdist, fetch_sdist
from lbi_icl.envs.swe.taskset.testsplit import NotSeparable, split_tests
from lbi_icl.envs.swe.workspace import default_cache_dir, ensure_venv, shell_environment
from lbi_icl.util.seeds import stable_seed

if TYPE_CHECKING:
    from lbi_icl.envs.swe.taskset.runner import BuildRun, TestRunner

log = logging.getLogger(__name__)

MIN_CPU_S = 10.0
CACHE_VERSION = 2  # bump when a cached result's meaning changes
MIN_WALL_S = 120.0


def files_under(root: Path, entries: list[str], test: bool) -> list[str]:
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


def _restrict(res: dict[str, Any], base: dict[str, str]) -> dict[str, Any]:
    """A cached result seen through the current baseline: tests left out of it since (see
    `baseline`) are left out of the result too, as a fresh run would."""
    f2p = [n for n in res["fail_to_pass"] if base.get(n) == "passed"]
    p2p = [n for n in res["pass_to_pass"] if base.get(n) == "passed"]
    messages = {n: m for n, m in res["messages"].items() if n in set(f2p)}
    return {**res, "fail_to_pass": f2p, "pass_to_pass": p2p, "messages": messages}


def _function_of(node: str) -> str:
    """`file::Class::test[param]` → `file::Class::test`."""
    return node.split("[", 1)[0]


def _limits(wall_s: float, cpu_s: float) -> tuple[float, float | None]:
    """A candidate's limits from the baseline run (which ran every test file; a candidate
    runs a few): CPU time decides (the same however loaded the machine is); the wall-clock
    limit only catches a run that hangs without using the CPU."""
    cpu = max(MIN_CPU_S, 5 * cpu_s) if cpu_s > 0 else None
    return max(MIN_WALL_S, 20 * wall_s), cpu


def grader_files(f2p: list[str], p2p: list[str]) -> list[str]:
    """The test files in the order the grader runs them (SWEInstance.test_files)."""
    return list(dict.fromkeys(n.split("::", 1)[0] for n in [*f2p, *p2p]))


class ProjectBuild:
    def __init__(
        self, cfg: BuildConfig, project: ProjectSpec, spec_dir: Path, runner: TestRunner
    ) -> None:
        self.cfg, self.p, self.spec_dir, self.runner = cfg, project, spec_dir, runner
        self.repo = cfg.out / "repos" / project.name
        self.cache = cfg.out / ".cache" / project.name
        self.work = cfg.out / ".work" / project.name
        self.cache_dir = cfg.cache_dir or default_cache_dir()
        self.report: ProjectReport = ProjectReport(name=project.name, split=project.split)
        self.scratches: queue.Queue[Path] = queue.Queue()
        self.lock = threading.Lock()
        self.test_texts: dict[str, str] = {}
        # limits of a candidate's run, set from the baseline run
        self.timeout_s: float = MIN_WALL_S
        self.cpu_limit_s: float | None = None
        owner_name = project.github or f"local/{project.name}"
        self.repo_name = owner_name
        self.id_prefix = owner_name.replace("/", "__")

    # -- repository ---------------------------------------------------------------------
    def prepare(self) -> str:
        """The repository (made once) and its fixed commit. The project's cache belongs to
        its spec entry: a changed entry (another version, other test files) starts over."""
        state = self.cache / "repo.json"
        spec = self.p.model_dump(mode="json", exclude={"docs", "split", "github"})
        spec["cache_version"] = CACHE_VERSION
        if state.exists() and json.loads(state.read_text()).get("spec") != spec:
            log.info("%s: the spec entry changed; its cache starts over", self.p.name)
            shutil.rmtree(self.cache, ignore_errors=True)
            shutil.rmtree(self.repo, ignore_errors=True)
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
        fix = gitrepo.init_repo(tmp, f"{self.p.name} {version} (from its source distribution)")
        self.repo.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, self.repo)
        self.cache.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state, json.dumps({"base_commit": fix, "spec": spec}, sort_keys=True))
        return fix

    def _scratch(self, i: int) -> Path:
        d = self.work / f"w{i}"
        if not d.exists():
            shutil.rmtree(d.with_name(f".w{i}"), ignore_errors=True)
            shutil.copytree(self.repo, d.with_name(f".w{i}"), ignore=shutil.ignore_patterns(".git"))
            os.replace(d.with_name(f".w{i}"), d)
        return d

    def env(self, root: Path) -> dict[str, str]:
        venv = ensure_venv(self.cache_dir, self.p.name)
        src = root / "src"
        pp = [str(src), str(root)] if src.is_dir() else [str(root)]
        return shell_environment(venv, pp, self.work / f"home-{root.name}")

    def _run(
        self,
        root: Path,
        files: list[str],
        timeout_s: float,
        cpu_limit_s: float | None = None,
        fresh: bool = False,
    ) -> BuildRun:
        env = self.env(root)
        run = self.runner.run(
            root, files, env, timeout_s=timeout_s, cpu_limit_s=cpu_limit_s, fresh=fresh
        )
        with self.lock:
            self.report.test_runs += 1
            self.report.test_seconds = round(self.report.test_seconds + run.seconds, 2)
        return run

    def baseline(self, tests: list[str]) -> dict[str, str]:
        """Outcomes of every test on the fixed tree, run twice: in a fork server and in a
        fresh `python -m pytest` process (as the grader runs them). A test function whose
        ids or outcome differ between the two is left out of every instance: a
        parametrization over a set of tuples holding None, for one, changes its ids from
        process to process. The candidates' time limit follows from the run's duration
        (a bug that makes a test loop forever costs little)."""
        path = self.cache / "baseline.json"
        if path.exists():
            saved = json.loads(path.read_text())
        else:
            root = self._scratch(0)
            fork = self.runner.submit(lambda: self._run(root, tests, 900))
            fresh = self.runner.submit(lambda: self._run(root, tests, 900, fresh=True))
            runs = [fork.result(), fresh.result()]
            if not runs[0].outcomes:
                raise RuntimeError(
                    f"{self.p.name}: the test run reported no tests (exit {runs[0].exit_code}):"
                    f"\n{runs[0].output[-2000:]}"
                )
            ids = [{_function_of(n) for n in r.outcomes} for r in runs]
            unstable = {_function_of(n) for n in set(runs[0].outcomes) ^ set(runs[1].outcomes)} | {
                n for n in ids[0] ^ ids[1]
            }
            unstable |= {
                _function_of(n)
                for n, o in runs[0].outcomes.items()
                if runs[1].outcomes.get(n, o) != o
            }
            saved = {
                "outcomes": runs[0].outcomes,
                "seconds": max(r.seconds for r in runs),
                "cpu_seconds": runs[0].cpu_seconds,
                "unstable": sorted(unstable),
            }
            atomic_write_text(path, json.dumps(saved, sort_keys=True))
        self.timeout_s, self.cpu_limit_s = _limits(
            float(saved["seconds"]), float(saved.get("cpu_seconds", 0.0))
        )
        unstable = set(saved.get("unstable", []))
        self.report.unstable_tests = len(unstable)
        outcomes = {}
        for n, o in saved["outcomes"].items():
            if _function_of(n) in unstable:
                continue
            if "::" in n.partition("[")[2]:
                # a parametrization id holding `::` (sqlparse has some): record checks that
                # split node ids on `::` would misread it, so it is left out
                self.report.awkward_ids += 1
                continue
            outcomes[n] = o
        return outcomes

    # -- candidates ---------------------------------------------------------------------
    def candidates(self, sources: list[str]) -> list[Candidate]:
        texts = {rel: (self.repo / rel).read_text(encoding="utf-8") for rel in sources}
        relevance = Relevance(self.test_texts, self.cfg.max_test_files)
        seed = stable_seed("swe-taskset", self.cfg.seed, self.p.name)
        picked = select(texts, relevance, seed, self.cfg.max_per_function, self.cfg.max_candidates)
        self.report.candidates = len(picked)
        return [Candidate(Bug((m,)), files) for m, files in picked]

    def combined(self, kept: list[tuple[Candidate, dict[str, Any]]], limit: int) -> list[Candidate]:
        rng = random.Random(stable_seed("swe-taskset-combined", self.cfg.seed, self.p.name))
        files_of = {c.bug.first.key: c.test_files for c, _ in kept}
        out = []
        for bug in combine([c.bug.first for c, _ in kept], rng, limit):
            files = sorted({f for m in bug.parts for f in files_of[m.key]})
            out.append(Candidate(bug, files[: self.cfg.max_test_files + 2]))
        return out

    # -- test runs ----------------------------------------------------------------------
    def evaluate(self, c: Candidate, base: dict[str, str]) -> dict[str, Any]:
        root = self.scratches.get()
        changed = c.bug.files()
        try:
            for rel, text in changed.items():
                (root / rel).write_text(text, encoding="utf-8")
            run = self._run(root, c.test_files, self.timeout_s, self.cpu_limit_s)
        finally:
            for rel in changed:
                shutil.copyfile(self.repo / rel, root / rel)
            self.scratches.put(root)
        files = set(c.test_files)
        before = {n for n, o in base.items() if o == "passed" and n.split("::", 1)[0] in files}
        f2p = sorted(n for n in before if run.outcomes.get(n) != "passed")
        p2p = sorted(n for n in before if run.outcomes.get(n) == "passed")
        return {
            "key": c.key,
            "fail_to_pass": f2p,
            "pass_to_pass": p2p,
            "messages": {n: run.messages[n] for n in f2p if n in run.messages},
            "timed_out": run.timed_out,
            "seconds": run.seconds,
            "cpu_seconds": run.cpu_seconds,
        }

    def _load(self, name: str) -> dict[str, dict[str, Any]]:
        path = self.cache / name
        done: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line from an interrupted build
                done[rec["key"]] = rec
        return done

    def judge(self, c: Candidate, res: dict[str, Any]) -> str | None:
        """Why a candidate is not an instance (None: it is one)."""
        if res["timed_out"]:
            return "timed_out"
        if not res["fail_to_pass"]:
            return "no_failing_test"
        if not res["pass_to_pass"]:
            return "no_passing_test"
        if len({_function_of(n) for n in res["fail_to_pass"]}) > self.cfg.max_failing_tests:
            return "too_many_failing_tests"
        try:
            split_tests(self.test_texts, res["fail_to_pass"])
        except NotSeparable:
            return "tests_not_separable"
        return None

    def run_in_order(
        self, cands: list[Candidate], base: dict[str, str], target: int
    ) -> list[tuple[Candidate, dict[str, Any]]]:
        """The first `target` candidates (in order) that make instances; candidates are
        run `workers` at a time and every result is cached, so what is kept does not
        depend on the batch size or on an interruption."""
        done = self._load("results.jsonl")
        kept: list[tuple[Candidate, dict[str, Any]]] = []
        step = self.cfg.workers
        with (self.cache / "results.jsonl").open("a", encoding="utf-8") as fh:
            for i in range(0, len(cands), step):
                if len(kept) >= target:
                    break
                batch = cands[i : i + step]
                todo = [c for c in batch if c.key not in done]
                futures = [self.runner.submit(lambda c=c: self.evaluate(c, base)) for c in todo]
                for c, fut in zip(todo, futures, strict=True):
                    res = fut.result()
                    done[c.key] = res
                    fh.write(json.dumps(res, sort_keys=True) + "\n")
                    fh.flush()
                for c in batch:
                    if len(kept) >= target:
                        break
                    res = _restrict(done[c.key], base)
                    self.report.tried += 1
                    why = self.judge(c, res)
                    if why is None:
                        kept.append((c, res))
                    else:
                        self.report.rejected[why] = self.report.rejected.get(why, 0) + 1
                n = i + len(batch)
                log.info("%s: %d/%d tried, %d kept", self.p.name, n, len(cands), len(kept))
        return kept

    def fix_runs(self, groups: list[list[str]]) -> dict[str, dict[str, str]]:
        """Outcomes on the fixed tree for each list of test files (as the grader runs
        them), cached."""
        done = self._load("fixruns.jsonl")
        todo = [g for g in dict.fromkeys("\x1f".join(g) for g in groups) if g not in done]

        def job(key: str) -> dict[str, Any]:
            root = self.scratches.get()
            try:
                run = self._run(root, key.split("\x1f"), 300)
            finally:
                self.scratches.put(root)
            return {"key": key, "outcomes": run.outcomes, "timed_out": run.timed_out}

        futures = [self.runner.submit(lambda k=k: job(k)) for k in todo]
        with (self.cache / "fixruns.jsonl").open("a", encoding="utf-8") as fh:
            for key, fut in zip(todo, futures, strict=True):
                done[key] = fut.result()
                fh.write(json.dumps(done[key], sort_keys=True) + "\n")
        return {k: v["outcomes"] for k, v in done.items()}

    # -- the whole project --------------------------------------------------------------
    def build(self) -> tuple[list[Draft], list[str]]:
        start = time.perf_counter()
        fix = self.prepare()
        tests = [
            t
            for t in files_under(self.repo, self.p.tests, test=True)
            if t not in set(self.p.exclude_tests)
        ]
        sources = [s for s in files_under(self.repo, self.p.sources, test=False) if s not in tests]
        self.test_texts = {
            t: (self.repo / t).read_text(encoding="utf-8", errors="replace") for t in tests
        }
        base = self.baseline(tests)
        self.report.baseline_tests = sum(o == "passed" for o in base.values())
        for i in range(self.cfg.workers):
            self.scratches.put(self._scratch(i))
        n_comb = int(self.cfg.per_project * self.cfg.combined + 0.5)
        singles = self.run_in_order(self.candidates(sources), base, self.cfg.per_project - n_comb)
        combos = self.combined(singles, max(3 * n_comb, n_comb + 4)) if n_comb else []
        self.report.combined_candidates = len(combos)
        kept = singles + self.run_in_order(combos, base, n_comb)
        groups = [grader_files(r["fail_to_pass"], r["pass_to_pass"]) for _, r in kept]
        fixed = self.fix_runs(groups)
        drafts: list[Draft] = []
        for (c, res), files in zip(kept, groups, strict=True):
            outcomes = fixed["\x1f".join(files)]
            if any(outcomes.get(n) != "passed" for n in res["fail_to_pass"] + res["pass_to_pass"]):
                self.report.rejected["fails_on_its_own"] = (
                    self.report.rejected.get("fails_on_its_own", 0) + 1
                )
                continue
            drafts.append(make_instance(self, c, res, fix))
            self.report.kinds[c.bug.kind] = self.report.kinds.get(c.bug.kind, 0) + 1
        self.report.kept = len(drafts)
        self.report.seconds = round(time.perf_counter() - start, 2)
        return drafts, tests
