"""`lbi swe build-tasks`: build the offline SWE task set (real PyPI projects + AST bugs),
and `lbi swe check`: validate a tasks file against its repositories."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("swe", help="code-agent task sets (the `swe` environment)")
    s = p.add_subparsers(dest="swe_command", required=True)
    b = s.add_parser(
        "build-tasks",
        help="build SWE-bench-format instances from pinned PyPI projects (reproducible)",
    )
    b.add_argument("--out", type=Path, required=True, help="output folder")
    b.add_argument("--spec", type=Path, help="projects spec (default: the packaged one)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--per-project", type=int, default=30, help="instances kept per project")
    b.add_argument(
        "--max-candidates", type=int, default=70, help="single mutants tried per project"
    )
    b.add_argument(
        "--max-per-function", type=int, default=4, help="mutants per function (distinct kinds)"
    )
    b.add_argument(
        "--combined",
        type=float,
        default=0.2,
        help="share of each project's instances that combine 2-3 mutations (default 0.2)",
    )
    b.add_argument(
        "--workers", type=int, help="test runs at once, all projects together (default: CPUs)"
    )
    b.add_argument(
        "--runner",
        choices=("fork", "subprocess"),
        default="fork",
        help="pytest fork servers (default) or a python process per test run",
    )
    b.add_argument("--projects", help="comma-separated subset of the spec's projects")
    b.add_argument("--cache-dir", type=Path, help="sdists and virtualenvs")
    b.add_argument("--llm", help="write problem statements with this LLM (default: offline)")
    b.add_argument("--llm-base-url", help="OpenAI-compatible server URL")
    b.add_argument(
        "--llm-splits", help="comma-separated splits whose statements the LLM writes (default all)"
    )
    b.add_argument(
        "--llm-cache",
        type=Path,
        help="LLM response cache (default OUT/.cache/llm.sqlite: a rerun resumes)",
    )
    b.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="replace a statement prompt template (swe_statement_system / swe_statement_user)",
    )
    b.set_defaults(handler=_build)
    c = s.add_parser(
        "check",
        help="validate task records (SWE-bench, SWE-smith or this project's) against their repos",
        description="Names every unusable record and why: a missing mirror or repository, a "
        "base_commit that is not there, missing test files or functions, a patch or "
        "test_patch that does not apply, a remote repository that does not answer.",
    )
    c.add_argument("tasks_file", type=Path)
    c.add_argument("--repo-map", type=Path, help="JSON/YAML file: owner/name -> local mirror")
    c.set_defaults(handler=_check)
    g = s.add_parser(
        "grade",
        help="grade a SWE-bench predictions file with the local grader (sandboxed, clean checkout)",
    )
    g.add_argument("predictions", type=Path, help="JSON lines: instance_id, model_patch, ...")
    g.add_argument("--tasks-file", type=Path, required=True, help="the tasks (file or folder)")
    g.add_argument("--split", default="test", help="split of a task folder (default test)")
    g.add_argument("--repo-map", type=Path, help="JSON/YAML file: owner/name -> local mirror")
    g.add_argument(
        "--env-option", action="append", default=[], metavar="KEY=VALUE",
        help="swe environment option (e.g. sandbox=off, test_timeout=600)",
    )  # fmt: skip
    g.add_argument("--out", type=Path, help="write the per-instance results here (JSON)")
    g.set_defaults(handler=_grade)


def _prompt_files(items: list[str]) -> dict[str, str]:
    """`--prompt NAME=FILE` options, each template checked now (names, file, variables)."""
    from lbi_icl.cli import CLIError
    from lbi_icl.prompts import PromptError, load_template, names_of

    out: dict[str, str] = {}
    for item in items:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise CLIError(f"--prompt {item!r}: expected NAME=FILE")
        if name not in names_of("swe"):
            raise CLIError(f"--prompt {name}: build-tasks uses {', '.join(names_of('swe'))}")
        out[name] = str(Path(file).expanduser().resolve())
        try:
            load_template(name, out[name])
        except PromptError as e:
            raise CLIError(str(e)) from e
    return out


def _build(args: argparse.Namespace) -> int:
    from rich.table import Table

    from lbi_icl.cli import CLIError
    from lbi_icl.commands.tables import print_table
    from lbi_icl.envs.swe.taskset.build import BuildConfig, build_taskset
    from lbi_icl.envs.swe.taskset.spec import SpecError

    logging.getLogger("lbi_icl.envs.swe").setLevel(logging.INFO)
    prompts = _prompt_files(args.prompt)
    llm = None
    if args.llm:
        from lbi_icl.llm import make_llm

        cache = args.llm_cache or args.out / ".cache" / "llm.sqlite"
        cache.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"base_url": args.llm_base_url} if args.llm_base_url else {}
        llm = make_llm(args.llm, cache_path=cache, **kwargs)
    extra = {"workers": args.workers} if args.workers else {}
    cfg = BuildConfig(
        out=args.out,
        spec=args.spec,
        seed=args.seed,
        per_project=args.per_project,
        max_candidates=args.max_candidates,
        max_per_function=args.max_per_function,
        combined=args.combined,
        runner=args.runner,
        projects=_names(args.projects),
        cache_dir=args.cache_dir,
        llm=args.llm,
        llm_splits=_names(args.llm_splits),
        prompts=prompts,
        **extra,
    )
    start = time.perf_counter()
    try:
        report = build_taskset(cfg, llm=llm)
    except (SpecError, ValueError, RuntimeError) as e:
        raise CLIError(str(e)) from e
    t = Table(title=f"SWE task set in {args.out} ({time.perf_counter() - start:.0f} s)")
    for col in ("project", "split", "baseline tests", "tried", "kept", "test runs", "s"):
        t.add_column(col)
    for p in report.projects:
        t.add_row(
            p.name,
            p.split,
            str(p.baseline_tests),
            str(p.tried),
            str(p.kept),
            str(p.test_runs),
            f"{p.seconds:.0f}",
        )
    print_table(t)
    print(f"train: {report.counts.get('train', 0)}  test: {report.counts.get('test', 0)}")
    print("kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(report.kinds.items())))
    return 0


def _names(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def _check(args: argparse.Namespace) -> int:
    from lbi_icl.cli import CLIError
    from lbi_icl.envs.swe.records import TaskRecordError, load_records, load_repo_map
    from lbi_icl.envs.swe.validate import check_records

    try:
        repo_map = load_repo_map(args.repo_map) if args.repo_map else None
        records = load_records(args.tasks_file)
        problems = check_records(records, args.tasks_file.parent, repo_map, deep=True)
    except (OSError, TaskRecordError) as e:
        raise CLIError(str(e)) from e
    for problem in problems:
        print(f"{args.tasks_file}: {problem}")
    if problems:
        raise CLIError(f"{len(problems)} of {len(records)} instances unusable", code=1)
    print(f"{args.tasks_file}: {len(records)} instances OK")
    return 0


def _grade(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from lbi_icl.cli import CLIError, parse_key_values
    from lbi_icl.commands.tables import print_table
    from lbi_icl.data.jsonl import atomic_write_text
    from lbi_icl.envs import make_env
    from lbi_icl.envs.base import EnvError
    from lbi_icl.envs.swe.predictions import PredictionsError, read_predictions
    from lbi_icl.envs.swe.regrade import grade_prediction

    options = parse_key_values(args.env_option, "--env-option")
    options["tasks_file"] = str(args.tasks_file)
    if args.repo_map:
        options["repo_map"] = str(args.repo_map)
    try:
        preds = read_predictions(args.predictions)
        env = make_env("swe", **options)
    except (OSError, PredictionsError, EnvError, ImportError, ValueError) as e:
        raise CLIError(str(e)) from e
    try:
        tasks = {t.id: t for t in env.tasks(args.split)}
        unknown = [p.instance_id for p in preds if p.instance_id not in tasks]
        if unknown:
            raise CLIError(
                f"{args.predictions}: {len(unknown)} instances are not in {args.tasks_file} "
                f"(split {args.split}): {', '.join(unknown[:5])}"
            )
        results = [grade_prediction(env, tasks[p.instance_id], p) for p in preds]
    except EnvError as e:
        raise CLIError(str(e)) from e
    finally:
        env.close()
    resolved = sum(r.resolved for r in results)
    t = Table(title=f"{args.predictions}: {resolved}/{len(results)} resolved")
    for col in ("instance", "model", "resolved", "FAIL_TO_PASS", "PASS_TO_PASS", "note"):
        t.add_column(col, overflow="fold")
    for r in results:
        note = r.error or (f"excluded: {', '.join(r.excluded)}" if r.excluded else "")
        row = (r.instance_id, r.model_name_or_path, "yes" if r.resolved else "no")
        t.add_row(*row, r.fail_to_pass, r.pass_to_pass, note)
    print_table(t)
    if args.out:
        report = {
            "resolved_ids": [r.instance_id for r in results if r.resolved],
            "unresolved_ids": [r.instance_id for r in results if not r.resolved],
            "instances": [r.model_dump() for r in results],
        }
        atomic_write_text(args.out, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0
