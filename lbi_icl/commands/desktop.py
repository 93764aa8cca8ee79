"""`lbi desktop build-tasks / check / tree`: the desktop envs' task set and readiness.

- `build-tasks --out DIR [--seed S] [--per-family N] [--families a,b]`: the project's
  offline task set in OSWorld's layout (same seed, same bytes; resumable).
- `check --env desktop|osworld|spider2v [--env-option k=v ...] [--split test]`: which
  tasks run here and, for the others, why not (one line per reason); exit 1 when none run.
- `tree TASK_ID`: reset one task on the local desktop and print its observation (and the
  tree size before / after the cut).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("desktop", help="desktop envs: build the task set, check what runs here")
    dsub = p.add_subparsers(dest="desktop_cmd", required=True)

    b = dsub.add_parser("build-tasks", help="write the offline desktop task set (OSWorld layout)")
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--per-family", type=int, default=7)
    b.add_argument("--families", default=None, help="comma-separated family names (default all)")
    b.set_defaults(handler=_build)

    c = dsub.add_parser("check", help="which tasks run on this machine, and why the others not")
    c.add_argument("--env", default="desktop", choices=["desktop", "osworld", "spider2v"])
    c.add_argument("--env-option", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--split", default="test")
    c.set_defaults(handler=_check)

    t = dsub.add_parser("tree", help="reset one task and print the observation the agent sees")
    t.add_argument("task_id")
    t.add_argument("--env", default="desktop", choices=["desktop", "osworld", "spider2v"])
    t.add_argument("--env-option", action="append", default=[], metavar="KEY=VALUE")
    t.add_argument("--split", default="test")
    t.set_defaults(handler=_tree)


def _options(pairs: list[str]) -> dict[str, Any]:
    from lbi_icl.cli import CLIError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CLIError(f"--env-option {pair!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _build(args: argparse.Namespace) -> int:
    from lbi_icl.cli import CLIError
    from lbi_icl.envs.desktop.taskgen.build import build_taskset

    families = [f for f in args.families.split(",") if f] if args.families else None
    if args.per_family < 1:
        raise CLIError("--per-family must be at least 1")
    try:
        counts = build_taskset(
            args.out, seed=args.seed, per_family=args.per_family, families=families
        )
    except (ValueError, ImportError) as e:
        raise CLIError(str(e)) from e
    from lbi_icl.commands.tables import print_text

    print_text(
        f"{args.out}: {counts['train']} train + {counts['test']} test tasks "
        f"({counts['files_written']} files written)"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    from lbi_icl.cli import CLIError
    from lbi_icl.commands.tables import print_table, table_console
    from lbi_icl.envs import make_env
    from lbi_icl.envs.base import EnvError

    try:
        env = make_env(args.env, **_options(args.env_option))
    except (ValueError, ImportError) as e:
        raise CLIError(str(e)) from e
    console = table_console()
    try:
        runnable = env.tasks(args.split)
        try:
            env.check_ready()  # type: ignore[attr-defined]
            ready = "ready"
        except EnvError as e:
            ready = str(e)
    except EnvError as e:
        raise CLIError(str(e)) from e
    finally:
        env.close()
    refused: dict[str, list[str]] = env.refused  # type: ignore[attr-defined]
    by_reason: dict[str, list[str]] = {}
    for tid, reasons in refused.items():
        for r in reasons:
            by_reason.setdefault(r, []).append(tid)
    table = Table(
        title=f"{args.env} {args.split}: {len(runnable)} runnable, {len(refused)} refused"
    )
    table.add_column("reason")
    table.add_column("tasks", justify="right")
    table.add_column("e.g.")
    for reason, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        table.add_row(escape(reason), str(len(ids)), escape(ids[0]))
    print_table(table, console=console)
    console.print(f"local desktop: {escape(ready)}")
    return 0 if runnable else 1


def _tree(args: argparse.Namespace) -> int:
    from lbi_icl.cli import CLIError
    from lbi_icl.envs import make_env
    from lbi_icl.envs.base import EnvError

    env = make_env(args.env, **_options(args.env_option))
    try:
        tasks = {t.id: t for t in env.tasks(args.split)}
        if args.task_id not in tasks:
            raise CLIError(f"no runnable task {args.task_id!r} in split {args.split!r}")
        obs = env.reset(tasks[args.task_id])
        print(obs)
        stats = env.last_stats  # type: ignore[attr-defined]
        print(f"\n[{stats}]")
    except EnvError as e:
        raise CLIError(str(e)) from e
    finally:
        env.close()
    return 0
