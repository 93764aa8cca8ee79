"""`lbi run | ablate | report | export | quickstart`: thin fronts over lbi_icl.runner."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError, parse_key_values, parse_names
from lbi_icl.commands.llm_flags import add_hosted_args, hosted_overrides
from lbi_icl.commands.tables import print_table, table_console
from lbi_icl.retrieval.strategies import ABLATE_DEFAULT

# Exit codes of `lbi run` / `lbi ablate` (docs/reliability.md): 0 every planned episode
# finished; 1 bad input, nothing run; 3 finished, but some episodes ended in an error;
# 4 stopped early: the first episodes all failed the same way; 5 stopped at the budget
# (--max-cost / --max-tokens); 130 interrupted.
EXIT_EPISODE_ERRORS = 3
EXIT_ABORTED = 4
EXIT_BUDGET = 5
EXIT_CODES_HELP = (
    "exit codes: 0 every planned episode finished; 1 bad input or setup, nothing run "
    "(also: --out in use by another lbi process); 2 usage; 3 finished, but some episodes "
    "ended in an error (rerun with --retry-errors); 4 stopped early, the first episodes all "
    "failed the same way; 5 stopped at the budget (rerun with a higher --max-cost / "
    "--max-tokens to resume); 130 interrupted"
)


def register(sub: Any) -> None:
    r = sub.add_parser(
        "run",
        help="run one retrieval strategy over benchmark tasks (resumable)",
        description="Run an agent over tasks x seeds into a run directory. Rerun the same "
        "command to resume: finished episodes are skipped.",
        epilog=EXIT_CODES_HELP,
    )
    _add_run_args(r)
    r.add_argument(
        "--retrieval",
        dest="strategy",
        metavar="STRATEGY",
        help="none|rag|instruction|observation|model|agentic|task_aware|history (default: none)",
    )
    r.set_defaults(handler=_run, ablate=False)

    a = sub.add_parser(
        "ablate",
        help="run several retrieval strategies on the same tasks and seeds",
        description="The same as `lbi run` over a list of strategies, with one shared LLM "
        "cache; then prints the report.",
        epilog=EXIT_CODES_HELP,
    )
    _add_run_args(a)
    a.add_argument(
        "--strategies",
        nargs="+",
        metavar="S",
        help=f"names, comma- or space-separated (default: the paper's six, "
        f"{','.join(ABLATE_DEFAULT)}, with or without an LLM: without one, model and agentic "
        "write their queries from a template)",
    )
    a.set_defaults(handler=_run, ablate=True)

    p = sub.add_parser(
        "report",
        help="summarize a run (success with 95%% CI, paired tests), or compare two runs",
        description="`lbi report RUN`: per-strategy results. `lbi report A B`: run A against "
        "run B on their shared (task, seed) pairs, per strategy (success on the shared pairs, "
        "both / only A / only B / neither, exact McNemar p; episodes not shared are counted).",
    )
    p.add_argument("run_dir", type=Path)
    p.add_argument("run_b", type=Path, nargs="?", help="a second run: compare RUN_DIR with it")
    p.add_argument(
        "--format",
        choices=["md", "csv", "json", "html"],
        help="print this format (html is also written to RUN/report.html, with the run "
        "viewer beside it; two runs: md, csv or json); default: a table in the terminal",
    )
    p.add_argument("--output", type=Path, help="write the report to this file instead")
    p.add_argument(
        "--pair",
        action="append",
        default=[],
        metavar="SA:SB",
        help="two runs: compare A's strategy SA with B's SB (repeatable; default: every "
        "strategy both runs have, by name)",
    )
    p.set_defaults(handler=_report)

    e = sub.add_parser(
        "export",
        help="write a run's episodes as trajectories (JSON Lines, Parquet or a Hugging Face "
        "datasets folder), or a swe run's SWE-bench predictions",
    )
    e.add_argument("run_dir", type=Path)
    e.add_argument(
        "--out", type=Path, required=True, help="output: .jsonl, .jsonl.gz, .parquet or a folder"
    )
    e.add_argument("--all", action="store_true", help="also export failed (finished) episodes")
    e.add_argument(
        "--format",
        choices=["jsonl", "parquet", "hf", "swebench-predictions"],
        default=None,
        help="default: from --out's extension (.jsonl/.jsonl.gz, .parquet); hf (a datasets "
        "folder, for the Hub) and swebench-predictions (a swe run: instance_id, "
        "model_name_or_path, model_patch per finished episode) are asked for by name",
    )
    e.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    e.add_argument("--strategy", help="swebench-predictions: only this strategy's episodes")
    e.add_argument("--seed", type=int, help="swebench-predictions: only this seed's episodes")
    e.set_defaults(handler=_export)

    q = sub.add_parser(
        "quickstart",
        help="offline demo: synthesize BabyAI data, index it, ablate strategies, report",
        description="No API key, no internet: synthesizes BabyAI data, builds an index with "
        "the packaged embedder, runs the retrieval-only policy for every strategy that needs "
        "no LLM on held-out test tasks, and prints the report.",
    )
    q.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="output folder")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--tasks", type=int, default=None, help="held-out test tasks to run")
    q.add_argument("--train-tasks", type=int, default=None, help="tasks to synthesize from")
    q.add_argument("--workers", type=int, default=None)
    q.add_argument("--max-steps", type=int, default=None, help="step limit per episode")
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(handler=_quickstart)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML or TOML file with the same settings")
    p.add_argument("--env", help="environment name (see `lbi envs`)")
    p.add_argument("--split", help="task split (default: test)")
    tasks = p.add_mutually_exclusive_group()
    tasks.add_argument(
        "--tasks", type=_tasks_arg, help="first N tasks of the split, or `all` (required)"
    )
    tasks.add_argument("--task-ids", help="comma-separated task ids")
    p.add_argument("--policy", choices=["llm", "retrieval"])
    p.add_argument("--llm", help="openai:MODEL | anthropic:MODEL | scripted:FILE")
    p.add_argument("--llm-base-url", help="OpenAI-compatible server URL (local servers)")
    p.add_argument("--llm-cache", type=Path, help="response cache (default: OUT/llm_cache)")
    p.add_argument(
        "--llm-cache-mode",
        choices=["rw", "off", "replay"],
        help="read and record (rw), off, or answers only from the cache (replay)",
    )
    p.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="replace a prompt template (repeatable; same as --set prompts.NAME=FILE)",
    )
    add_hosted_args(p)
    p.add_argument("--retrieval-llm", help="LLM that writes retrieval queries (default: --llm)")
    p.add_argument("--index", type=Path, help="index directory (`lbi index build`)")
    p.add_argument(
        "--query-embedder",
        help="embed queries with this embedder instead of the index's own, if declared "
        "compatible (e.g. minilm-openvino on a torch-built index)",
    )
    p.add_argument("--out", type=Path, help="run directory, e.g. runs/NAME")
    p.add_argument("--workers", type=int, help="episodes in parallel (default 1)")
    p.add_argument("--parallel", choices=["thread", "process"], help="worker kind")
    add_executor_args(p)
    p.add_argument("--seeds", type=int, help="seeds per task (default 1)")
    p.add_argument("--seed", type=int, help="first seed (default 0)")
    p.add_argument("--max-steps", type=int, help="step limit per episode")
    p.add_argument(
        "--step-timeout",
        type=float,
        metavar="SECONDS",
        help="time limit of one environment step (default: the environment's own, e.g. 120 "
        "s); a step past it ends the episode with an error and the environment is rebuilt",
    )
    p.add_argument(
        "--retry-errors", action="store_true", default=None, help="rerun errored episodes"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other setting, dotted (e.g. agent.history_steps=3, retrieval.m1=3); "
        "VALUE is parsed as JSON when it can be",
    )
    p.add_argument(
        "--env-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment option (VALUE is JSON when it parses, e.g. tasks_file=DIR for swe); "
        "same as --set env_options.KEY=",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _tasks_arg(text: str) -> int | str:
    if text == "all":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'all', got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def add_executor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where workers run: this machine (default) or Ray actors (the [ray] extra; "
        'README "Running on a cluster")',
    )
    p.add_argument(
        "--ray-address",
        help="Ray cluster to use (e.g. 10.0.0.5:6379); default: RAY_ADDRESS, else a local "
        "Ray instance started for this command",
    )


def _config_from_args(args: argparse.Namespace) -> Any:
    from lbi_icl.runner.config import ConfigError, build_config

    named = args.tasks is not None or args.task_ids
    if not named and not any(_file_sets(args.config, k) for k in ("tasks", "task_ids")):
        raise CLIError(
            "which tasks? --tasks N (the first N of the split), --tasks all (the whole split) "
            "or --task-ids A,B"
        )
    overrides: dict[str, Any] = {
        "env": args.env,
        "split": args.split,
        "tasks": None if args.tasks == "all" else args.tasks,
        "task_ids": [t for t in args.task_ids.split(",") if t] if args.task_ids else None,
        "policy": args.policy,
        "llm": args.llm,
        "llm_base_url": args.llm_base_url,
        "llm_cache": args.llm_cache,
        "llm_cache_mode": args.llm_cache_mode,
        **hosted_overrides(args),
        "retrieval_llm": args.retrieval_llm,
        "index": args.index,
        "query_embedder": args.query_embedder,
        "out": args.out,
        "workers": args.workers,
        "parallel": args.parallel,
        "executor": args.executor,
        "ray_address": args.ray_address,
        "seeds": args.seeds,
        "seed": args.seed,
        "max_steps": args.max_steps,
        "step_timeout_s": args.step_timeout,
        "retry_errors": args.retry_errors,
    }
    if args.ablate:
        if args.strategies is not None:
            overrides["strategies"] = parse_names(args.strategies, "--strategies")
    elif args.strategy:
        overrides["strategies"] = [args.strategy]
    options = parse_key_values(args.env_option, "--env-option")
    overrides.update({f"env_options.{k}": v for k, v in options.items()})
    overrides.update(parse_key_values(args.set, "--set"))
    for item in args.prompt:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise CLIError(f"--prompt {item!r}: expected NAME=FILE")
        overrides[f"prompts.{name}"] = file
    try:
        cfg = build_config(args.config, overrides)
    except ConfigError as e:
        from lbi_icl.retrieval.config import RetrievalConfig

        bare = [k for k in parse_key_values(args.set, "--set") if k in RetrievalConfig.model_fields]
        hint = f" (retrieval settings are dotted: --set retrieval.{bare[0]}=...)" if bare else ""
        raise CLIError(f"{e}{hint}") from e
    if args.ablate and args.strategies is None and not _file_sets(args.config, "strategies"):
        cfg = cfg.model_copy(update={"strategies": list(ABLATE_DEFAULT)})
        cfg = type(cfg).model_validate(cfg.model_dump())
    return cfg


def _file_sets(path: Path | None, key: str) -> bool:
    """Whether the config file sets `key` (a bad file is the user's one-line error)."""
    if path is None:
        return False
    from lbi_icl.runner.config import ConfigError, load_config_file

    try:
        return key in load_config_file(path)
    except ConfigError as e:
        raise CLIError(str(e)) from e


def _run(args: argparse.Namespace) -> int:

    from lbi_icl.data.jsonl import DataError
    from lbi_icl.runner import ConfigError, run_experiment
    from lbi_icl.runner.report import build_report, rich_table

    cfg = _config_from_args(args)

    def announce(tasks: int, episodes: int, done: int) -> None:
        per = f"{cfg.seeds} seed(s) x {len(cfg.strategies)} strategy(ies)"
        rest = f", {done} already done" if done else ""
        print(f"{tasks} task(s) x {per} = {episodes} episode(s){rest}", file=sys.stderr)

    try:
        summary = run_experiment(
            cfg, show_progress=False if args.no_progress else None, on_plan=announce
        )
    except (ConfigError, DataError, FileNotFoundError, *_user_errors()) as e:
        raise CLIError(str(e)) from e
    if summary.aborted:
        print(f"error: run stopped early: {summary.aborted}", file=sys.stderr)
        return EXIT_ABORTED
    console = table_console()
    print_table(rich_table(build_report(cfg.out)), console=console)
    console.print(
        f"{summary.ran} episode(s) run, {summary.skipped} already done, "
        f"{summary.errors} error(s); results in {cfg.out} "
        f"(`lbi report {cfg.out} --format html` for the HTML report)"
    )
    if summary.interrupted:
        console.print("interrupted: rerun the same command to resume")
        return 130
    if summary.budget:
        print(f"error: {summary.budget}", file=sys.stderr)
        return EXIT_BUDGET
    if summary.errors:
        print(
            f"error: {summary.errors} episode(s) ended in an error (see the 'errors' column); "
            "rerun with --retry-errors",
            file=sys.stderr,
        )
        return EXIT_EPISODE_ERRORS
    return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors of other areas that mean bad input (unknown env, broken index, LLM config)."""
    from lbi_icl.cluster.session import RayUnavailableError
    from lbi_icl.envs import EnvNotInstalledError, UnknownEnvError
    from lbi_icl.envs.registry import EnvOptionError
    from lbi_icl.envs.swe.records import TaskRecordError
    from lbi_icl.index import IndexFormatError
    from lbi_icl.llm.errors import LLMConfigError
    from lbi_icl.runner.precheck import PrecheckError

    return (
        RayUnavailableError,
        EnvNotInstalledError,
        UnknownEnvError,
        EnvOptionError,
        IndexFormatError,
        LLMConfigError,
        PrecheckError,
        TaskRecordError,
    )


def _report(args: argparse.Namespace) -> int:
    from lbi_icl.data.jsonl import DataError, atomic_write_text
    from lbi_icl.runner.report import build_report, report, rich_table
    from lbi_icl.runner.runlog import require_run_dir

    if args.run_b is not None:
        return _compare(args)
    if args.pair:
        raise CLIError("--pair compares two runs: `lbi report A B --pair SA:SB`")
    try:
        require_run_dir(args.run_dir)
        if args.format is None and args.output is None:
            print_table(rich_table(build_report(args.run_dir)))
            return 0
        text = report(args.run_dir, args.format or "md")
    except (DataError, FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from e
    if args.output is not None:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    elif args.format == "html":
        print(f"wrote {args.run_dir / 'report.html'}")
    else:
        sys.stdout.write(text)
    if args.format == "html":  # the report links each episode to its viewer page
        print(f"viewer: {_write_view(args.run_dir)}")
    return 0


def _write_view(run_dir: Path) -> Path:
    """Build (or refresh) RUN/view/, which report.html links to; returns its index.html."""
    from lbi_icl.data.jsonl import DataError
    from lbi_icl.index import IndexFormatError
    from lbi_icl.view import build_view

    try:
        res = build_view(run_dir)
    except (DataError, FileNotFoundError, IndexFormatError, ValueError) as e:
        raise CLIError(f"report written, but the viewer it links to was not: {e}") from e
    return res.index_html


def _compare(args: argparse.Namespace) -> int:
    """`lbi report A B`: two runs on their shared (task, seed) pairs (report_compare.py)."""
    from lbi_icl.data.jsonl import DataError, atomic_write_text
    from lbi_icl.runner.report_compare import compare_runs, comparison_table, render_comparison

    pairs = []
    for item in args.pair:
        sa, sep, sb = item.partition(":")
        if not sep or not sa or not sb:
            raise CLIError(f"--pair {item!r}: expected A_STRATEGY:B_STRATEGY, e.g. rag:none")
        pairs.append((sa, sb))
    if args.format == "html":
        raise CLIError("a comparison of two runs is written as md, csv or json (not html)")
    try:
        cmp = compare_runs(args.run_dir, args.run_b, pairs or None)
        if args.format is None and args.output is None:
            print_table(comparison_table(cmp))
            return 0
        text = render_comparison(cmp, args.format or "md")
    except (DataError, FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from e
    if args.output is not None:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _export(args: argparse.Namespace) -> int:
    from lbi_icl.data.jsonl import DataError
    from lbi_icl.runner import export_run
    from lbi_icl.runner.runlog import require_run_dir

    if args.out.exists() and not args.overwrite:
        raise CLIError(f"--out {args.out}: exists; pass --overwrite to replace it")
    try:
        require_run_dir(args.run_dir)
        if args.format == "swebench-predictions":
            from lbi_icl.envs.swe.predictions import write_predictions
            from lbi_icl.runner.export import swebench_predictions

            preds = swebench_predictions(args.run_dir, strategy=args.strategy, seed=args.seed)
            n = write_predictions(args.out, preds)
            print(f"wrote {n} predictions to {args.out} (SWE-bench format)")
            return 0
        from lbi_icl.data.dataset_io import output_format

        fmt = output_format(args.out, args.format)
        n = export_run(args.run_dir, args.out, include_all=args.all, fmt=fmt)
    except (DataError, FileNotFoundError, ValueError, ImportError) as e:
        raise CLIError(str(e)) from e
    print(f"wrote {n} trajectories to {args.out} ({fmt}; source kind agent_run)")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    try:
        from lbi_icl.runner.quickstart import quickstart
    except ModuleNotFoundError as e:
        raise CLIError(f"quickstart needs a piece that is not installed: {e}") from e
    kwargs: dict[str, Any] = {"out": args.out, "seed": args.seed}
    if args.tasks is not None:
        kwargs["tasks"] = args.tasks
    if args.train_tasks is not None:
        kwargs["train_tasks"] = args.train_tasks
    if args.workers is not None:
        kwargs["workers"] = args.workers
    if args.max_steps is not None:
        kwargs["max_steps"] = args.max_steps
    res = quickstart(**kwargs, show_progress=not args.no_progress)
    # the report links each episode to the viewer: write it now, so the links resolve
    print(f"Run viewer (report.html links here): {_write_view(res.run)}")
    return 0
