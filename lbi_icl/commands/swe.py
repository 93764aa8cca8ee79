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
    b.add_argument("--max-candidates", type=int, default=70, help="mutants tried per project")
    b.add_argument(
        "--max-per-function", type=int, default=4, help="mutants per function (distinct kinds)"
    )
    b.add_argument("--workers", type=int, default=2, help="test runs in parallel")
    b.add_argument("--projects", help="comma-separated subset of the spec's projects")
    b.add_argument("--cache-dir", type=Path, help="sdists and virtualenvs")
    b.add_argument("--llm", help="write problem statements with this LLM (default: offline)")
    b.add_argument("--llm-base-url", help="OpenAI-compatible server URL")
    b.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="replace a statement prompt template (swe_statement_system / swe_statement_user)",
    )
    b.set_defaults(handler=_build)
    c = s.add_parser("check", help="validate a SWE-bench-format JSONL against its repos")
    c.add_argument("tasks_file", type=Path)
    c.set_defaults(handler=_check)


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
    from rich.console import Console
    from rich.table import Table

    from lbi_icl.cli import CLIError
    from lbi_icl.envs.swe.taskset.build import BuildConfig, build_taskset
    from lbi_icl.envs.swe.taskset.spec import SpecError

    logging.getLogger("lbi_icl.envs.swe").setLevel(logging.INFO)
    prompts = _prompt_files(args.prompt)
    llm = None
    if args.llm:
        from lbi_icl.llm import make_llm

        kwargs = {"base_url": args.llm_base_url} if args.llm_base_url else {}
        llm = make_llm(args.llm, **kwargs)
    cfg = BuildConfig(
        out=args.out,
        spec=args.spec,
        seed=args.seed,
        per_project=args.per_project,
        max_candidates=args.max_candidates,
        max_per_function=args.max_per_function,
        workers=args.workers,
        projects=[p.strip() for p in args.projects.split(",")] if args.projects else None,
        cache_dir=args.cache_dir,
        llm=args.llm,
        prompts=prompts,
    )
    start = time.perf_counter()
    try:
        report = build_taskset(cfg, llm=llm)
    except (SpecError, ValueError, RuntimeError) as e:
        raise CLIError(str(e)) from e
    t = Table(title=f"SWE task set in {args.out} ({time.perf_counter() - start:.0f} s)")
    for col in ("project", "split", "baseline tests", "mutants tried", "verified", "kept", "s"):
        t.add_column(col)
    for p in report.projects:
        t.add_row(
            p.name,
            p.split,
            str(p.baseline_tests),
            str(p.tried),
            str(p.verified),
            str(p.kept),
            f"{p.seconds:.0f}",
        )
    Console().print(t)
    print(f"train: {report.counts.get('train', 0)}  test: {report.counts.get('test', 0)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from lbi_icl.cli import CLIError
    from lbi_icl.envs.swe.records import TaskRecordError, load_records, validate_local

    try:
        records = load_records(args.tasks_file)
        validate_local(records, args.tasks_file.parent)
    except (OSError, TaskRecordError) as e:
        raise CLIError(str(e)) from e
    print(f"{args.tasks_file}: {len(records)} instances OK")
    return 0
