"""`lbi heldout`: expert demonstrations of one split's tasks, written as held-out
trajectories for `lbi eval-retrieval` (ScienceWorld: the gold paths of dev / test
variations; BabyAI: the bot on dev / test seeds)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError, parse_key_values


def register(sub: Any) -> None:
    p = sub.add_parser(
        "heldout",
        help="write expert demonstrations of a split's tasks (held-out sets for eval-retrieval)",
        description="Runs the environment's expert on N tasks of a split (tasks are listed "
        "in the environment's stable order, e.g. ScienceWorld interleaves task types) and "
        "writes every task's whole expert path: the simulator's gold path even when the "
        "expert replay does not solve the task (metadata.replayed false). --only-replayed "
        "keeps only the solved replays (at most 100 steps each), as before. Prints the "
        "set's task-type mix, then a JSON summary as the last line. Deterministic for the "
        "same arguments.",
    )
    p.add_argument("--env", required=True, help="environment name (see `lbi envs`)")
    p.add_argument("--split", default="dev", help="task split (default dev)")
    p.add_argument("--tasks", type=int, default=60, help="tasks to demonstrate (default 60)")
    p.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip the split's first N tasks (e.g. train variations synthesis used: "
        "--split train --offset 90 gives a dev set of unused train variations)",
    )
    p.add_argument(
        "--only-replayed",
        action="store_true",
        help="keep only tasks whose expert replay succeeds (the earlier behaviour)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="expert step limit (default: none, whole paths; 100 with --only-replayed)",
    )
    p.add_argument("--out", type=Path, required=True, help="output .jsonl (written atomically)")
    p.add_argument(
        "--env-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment option (repeatable; VALUE is JSON when it parses), as for "
        "`lbi synthesize`",
    )
    p.set_defaults(handler=_heldout)


def _heldout(args: argparse.Namespace) -> int:
    from lbi_icl.envs import make_env
    from lbi_icl.retrieval.heldout import demonstrate_split

    if args.tasks < 1:
        raise CLIError("--tasks must be at least 1")
    if args.offset < 0:
        raise CLIError("--offset must be 0 or more")
    if args.max_steps is not None and args.max_steps < 1:
        raise CLIError("--max-steps must be at least 1")
    options = parse_key_values(args.env_option, "--env-option")
    try:
        env = make_env(args.env, **options)
    except Exception as e:  # unknown env / missing extra: one clear line
        raise CLIError(f"--env {args.env!r}: {e}") from e
    try:
        summary = demonstrate_split(
            env,
            args.split,
            args.tasks,
            args.out,
            max_steps=args.max_steps,
            only_replayed=args.only_replayed,
            offset=args.offset,
        )
    except ValueError as e:
        raise CLIError(str(e)) from e
    finally:
        env.close()
    print_mix(summary)
    print(json.dumps(summary.model_dump(mode="json")))
    return 0


def print_mix(summary: Any) -> None:
    """The set's task-type mix: trajectories, replayed, steps and skipped per type."""
    from rich.table import Table

    from lbi_icl.commands.tables import print_table

    kind = "solved replays only" if summary.only_replayed else "every task, whole paths"
    t = Table(
        title=f"{summary.env} {summary.split} held-out set ({kind}): {summary.trajectories} "
        f"trajectories of {summary.tasks} tasks, {summary.replayed} replayed, "
        f"{summary.steps} steps"
    )
    for col in ("task type", "trajectories", "replayed", "steps", "share of steps %", "skipped"):
        t.add_column(col, justify="left" if col == "task type" else "right")
    for m in summary.task_types:
        share = 100 * m.steps / summary.steps if summary.steps else 0.0
        t.add_row(
            m.task_type,
            str(m.trajectories),
            str(m.replayed),
            str(m.steps),
            f"{share:.1f}",
            str(m.skipped),
        )
    print_table(t)
