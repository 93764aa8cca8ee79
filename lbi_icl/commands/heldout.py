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
        description="Runs the environment's expert on the first N tasks of a split (tasks "
        "are listed in the environment's stable order, e.g. ScienceWorld interleaves task "
        "types) and writes the successful demonstrations. Tasks the expert cannot solve "
        "are skipped and counted. Deterministic for the same arguments.",
    )
    p.add_argument("--env", required=True, help="environment name (see `lbi envs`)")
    p.add_argument("--split", default="dev", help="task split (default dev)")
    p.add_argument("--tasks", type=int, default=60, help="tasks to demonstrate (default 60)")
    p.add_argument("--max-steps", type=int, default=100, help="expert step limit")
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
    options = parse_key_values(args.env_option, "--env-option")
    try:
        env = make_env(args.env, **options)
    except Exception as e:  # unknown env / missing extra: one clear line
        raise CLIError(f"--env {args.env!r}: {e}") from e
    try:
        summary = demonstrate_split(env, args.split, args.tasks, args.out, max_steps=args.max_steps)
    except ValueError as e:
        raise CLIError(str(e)) from e
    finally:
        env.close()
    print(json.dumps(summary.model_dump(mode="json")))
    return 0
