"""`lbi synthesize`: the Learn-by-interact data synthesis (Algorithm 1) for one
environment, with per-stage counts (the paper's Table 1)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError, parse_key_values
from lbi_icl.commands.tables import print_table

EXPLORERS = ("expert", "noisy_expert", "random", "coverage", "llm")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "synthesize",
        help="synthesize agent data for an environment (self-instruct, rollouts, "
        "backward construction, filters)",
        description="Runs the paper's Algorithm 1. Offline by default (env task list, "
        "expert explorers, hindsight relabeler, environment check); --llm switches the "
        "task, rollout and writer stages to an LLM. Rerunning the same command resumes an "
        "interrupted run; the output is the same bytes either way.",
    )
    p.add_argument("--env", required=True, help="environment name (see `lbi envs`)")
    p.add_argument("--split", default="train")
    p.add_argument("--tasks", type=int, default=50, help="number of tasks (default 50)")
    p.add_argument("--out", type=Path, required=True, help="output .jsonl")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--llm", default=None, help="LLM spec, e.g. openai:gpt-4o-mini")
    p.add_argument("--llm-base-url", default=None, help="OpenAI-compatible server URL")
    p.add_argument("--llm-cache", type=Path, default=None, help="SQLite response cache")
    p.add_argument(
        "--llm-cache-mode",
        choices=["rw", "off", "replay"],
        default="rw",
        help="read and record (rw), off, or answers only from the cache (replay)",
    )
    p.add_argument(
        "--task-source",
        choices=["env", "self_instruct"],
        default=None,
        help="default: self_instruct with --llm, else env",
    )
    p.add_argument(
        "--task-order",
        choices=["first", "spread"],
        default=None,
        help="env tasks: the first N, or N spread over each task family's variations "
        "(default: spread for scienceworld, else first)",
    )
    p.add_argument("--tasks-per-document", type=int, default=3)
    p.add_argument(
        "--explorers",
        default=None,
        help=f"comma list of {', '.join(EXPLORERS)} (default: llm with --llm, "
        "else expert,noisy_expert; miniwob: expert, coverage where a task has no solver)",
    )
    p.add_argument("--epsilon", type=float, default=0.2, help="detour rate of noisy_expert")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="rollout step limit (default 40; miniwob 10; scienceworld 250: whole expert paths)",
    )
    p.add_argument(
        "--step-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time limit of one environment call (default: the environment's own); a call "
        "past it skips that rollout and rebuilds the environment",
    )
    p.add_argument("--window-min", type=int, default=1)
    p.add_argument("--window-max", type=int, default=10, help="0 = no limit")
    p.add_argument(
        "--windows-per-trajectory", type=int, default=24, help="sampled cap; 0 = all windows"
    )
    p.add_argument("--kinds", default="abstract,summarize")
    p.add_argument(
        "--writer",
        choices=["offline", "llm"],
        default=None,
        help="default: llm with --llm, else the env's offline relabeler",
    )
    p.add_argument(
        "--committee",
        default="",
        help="comma list of LLM specs judging each example (unanimous); empty = off",
    )
    p.add_argument("--no-env-check", action="store_true")
    p.add_argument("--no-repeat-filter", action="store_true")
    failed = p.add_mutually_exclusive_group()
    failed.add_argument(
        "--cut-failed-steps",
        action="store_true",
        help="cut steps whose action the environment rejected (default: keep them)",
    )
    failed.add_argument("--keep-failed-steps", action="store_true", help="keep them (the default)")
    p.add_argument("--no-dedup", action="store_true")
    p.add_argument("--no-raw", action="store_true", help="do not keep raw trajectories")
    p.add_argument(
        "--env-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment option (repeatable; VALUE is JSON when it parses), e.g. "
        "levels='[\"BabyAI-GoToLocal-v0\"]'",
    )
    p.add_argument(
        "--prompt",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="replace a synthesis prompt template (repeatable; names: self_instruct_*, "
        "rollout_*, relabel_*, committee_*; see lbi_icl/prompts/defaults/)",
    )
    p.add_argument("--overwrite", action="store_true", help="start again from scratch")
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where rollouts run: this process (default) or Ray actors (the [ray] extra); "
        "the output is the same bytes",
    )
    p.add_argument("--workers", type=int, default=1, help="Ray workers (with --executor ray)")
    p.add_argument(
        "--ray-address", help="Ray cluster (default: RAY_ADDRESS, else a local Ray instance)"
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=_synthesize)


def build_config(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from lbi_icl.synth.config import SynthConfig

    explorers = (
        [x.strip() for x in args.explorers.split(",") if x.strip()] if args.explorers else None
    )
    for x in explorers or []:
        if x not in EXPLORERS:
            raise CLIError(
                f"--explorers: unknown explorer {x!r}; choose from {', '.join(EXPLORERS)}"
            )
    prompts: dict[str, str] = {}
    for item in args.prompt:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise CLIError(f"--prompt {item!r}: expected NAME=FILE")
        prompts[name] = str(Path(file).expanduser().resolve())
    try:
        config = SynthConfig(
            env=args.env,
            env_options=parse_key_values(args.env_option, "--env-option"),
            split=args.split,
            tasks=args.tasks,
            seed=args.seed,
            task_source=args.task_source,
            task_order=args.task_order,
            tasks_per_document=args.tasks_per_document,
            explorers=explorers,
            epsilon=args.epsilon,
            max_steps=args.max_steps,
            step_timeout_s=args.step_timeout,
            window_min=args.window_min,
            window_max=args.window_max or None,
            windows_per_trajectory=args.windows_per_trajectory or None,
            kinds=[k.strip() for k in args.kinds.split(",") if k.strip()],
            writer=args.writer,
            repeat_filter=not args.no_repeat_filter,
            failed_filter=args.cut_failed_steps,
            env_check=not args.no_env_check,
            committee=[c.strip() for c in args.committee.split(",") if c.strip()],
            dedup=not args.no_dedup,
            llm=args.llm,
            save_raw=not args.no_raw,
            prompts=prompts,
        )
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or 'config'}: {err['msg']}"
            for err in e.errors()
        )
        raise CLIError(f"invalid synthesis options: {problems}") from e
    from lbi_icl.prompts import PromptError

    try:
        config.prompt_set()  # every template file checked before any work
    except PromptError as e:
        raise CLIError(str(e)) from e
    return config


def _synthesize(args: argparse.Namespace) -> int:
    from lbi_icl.cluster.session import RayUnavailableError
    from lbi_icl.envs.registry import EnvNotInstalledError, UnknownEnvError
    from lbi_icl.synth.pipeline import SynthConflictError, paths_for, synthesize
    from lbi_icl.synth.ray_rollouts import SynthExecutor
    from lbi_icl.synth.relabelers import NoRelabelerError

    config = build_config(args)
    if args.out.suffix != ".jsonl":
        raise CLIError(f"--out {args.out}: must be a .jsonl file (written record by record)")
    llm = committee = None
    if config.llm is not None or config.committee:
        from lbi_icl.llm import make_llm
        from lbi_icl.llm.errors import LLMConfigError
        from lbi_icl.runner.precheck import PrecheckError, check_llm

        llm_options: dict[str, Any] = {
            "cache_path": args.llm_cache,
            "cache_mode": args.llm_cache_mode,
            "base_url": args.llm_base_url,
        }
        try:
            if config.llm is not None:
                llm = make_llm(config.llm, **llm_options)
            committee = [make_llm(spec, **llm_options) for spec in config.committee]
            for spec in [config.llm, *config.committee]:
                check_llm(spec, args.llm_base_url, cache_mode=args.llm_cache_mode)
        except (LLMConfigError, PrecheckError) as e:
            raise CLIError(str(e)) from e
    from lbi_icl.llm.errors import LLMError

    try:
        report = synthesize(
            config,
            args.out,
            llm=llm,
            committee=committee,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            executor=SynthExecutor(args.executor, max(1, args.workers), args.ray_address),
        )
    except (
        UnknownEnvError,
        EnvNotInstalledError,
        SynthConflictError,
        NoRelabelerError,
        RayUnavailableError,
    ) as e:
        raise CLIError(str(e)) from e
    except LLMError as e:
        where = getattr(llm, "base_url", None) or getattr(llm, "spec", "the LLM")
        raise CLIError(f"LLM {where}: {e} (rerun the same command to resume)") from e
    except ValueError as e:
        raise CLIError(str(e)) from e
    print_report(report)
    from rich.console import Console

    Console(stderr=True).print(
        f"wrote {report.counts.get('examples_final', 0)} examples to {args.out}; "
        f"report: {paths_for(args.out)['report']}"
    )
    return 0


def print_report(report: Any) -> None:
    from rich.table import Table

    c = report.config
    t = Table(title=f"synthesis: {c.env} / {c.split} (seed {c.seed})", show_header=True)
    t.add_column("stage")
    t.add_column("count", justify="right")
    for name, value in report.table_rows():
        t.add_row(name, value)
    for kind, n in sorted(report.by_kind.items()):
        t.add_row(f"  by kind: {kind}", str(n))
    for why, n in sorted(report.skipped.items()):
        t.add_row(f"  skipped rollouts: {why}", str(n))
    if report.llm_calls:
        cost = f", ${report.llm_cost_usd:.4f}" if report.llm_cost_usd is not None else ""
        t.add_row(
            "LLM calls",
            f"{report.llm_calls} ({report.llm_input_tokens}+{report.llm_output_tokens} tok{cost})",
        )
    t.add_row("seconds", f"{report.seconds.get('total', 0.0):.1f}")
    print_table(t)
