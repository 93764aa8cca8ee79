"""`lbi envs`: list the environments, whether their dependencies are installed, and how to
install them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lbi_icl.commands.tables import print_table


def register(sub: Any) -> None:
    p = sub.add_parser("envs", help="list environments and whether they are installed")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of a table, with each installed env's task count per split "
        "(with its default options; `tasks_error` says why an env has none without options)",
    )
    p.add_argument(
        "--no-counts",
        action="store_true",
        help="with --json: leave the task counts out (listing some envs takes seconds)",
    )
    p.set_defaults(handler=_envs)


def _envs(args: argparse.Namespace) -> int:
    from lbi_icl.envs.registry import list_envs

    infos = list_envs()
    if args.json and args.no_counts:
        print(json.dumps([i.model_dump() for i in infos], indent=2))
        return 0
    if args.json:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:  # listing some envs takes seconds
            counts = list(pool.map(lambda i: _task_counts(i.name) if i.installed else {}, infos))
        rows = [{**i.model_dump(), **c} for i, c in zip(infos, counts, strict=True)]
        print(json.dumps(rows, indent=2))
        return 0
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="environments", show_header=True, show_lines=False)
    t.add_column("name", style="bold")
    t.add_column("installed")
    t.add_column("install")
    t.add_column("description")
    for i in infos:
        installed = (
            "[green]yes[/green]" if i.installed else f"[red]no[/red] ({', '.join(i.missing)})"
        )
        t.add_row(i.name, installed, escape(i.install_hint) or "-", escape(i.description))
    print_table(t)
    return 0


SPLITS = ("train", "dev", "test")


def _task_counts(name: str) -> dict[str, Any]:
    """{"tasks": {split: count}} of the env built with its default options (a split it does
    not have is left out), or {"tasks": None, "tasks_error": why} when it needs options."""
    from lbi_icl.envs import make_env

    try:
        env = make_env(name)
    except Exception as e:  # e.g. osworld without tasks_dir: say why, in one line
        return {"tasks": None, "tasks_error": _line(e)}
    counts: dict[str, int] = {}
    try:
        for split in SPLITS:
            try:
                counts[split] = _count(env, split)
            except ValueError as e:
                if "split" not in str(e):  # a missing option, not a missing split
                    return {"tasks": None, "tasks_error": _line(e)}
    except Exception as e:
        return {"tasks": None, "tasks_error": _line(e)}
    finally:
        env.close()
    return {"tasks": counts}


def _count(env: Any, split: str) -> int:
    """An env's own `task_counts()` when it has one; levels x seeds envs (BabyAI) without
    resetting every level to read its mission; else the length of its task list."""
    own = getattr(env, "task_counts", None)
    if callable(own):
        return int(own()[split])
    levels, per = getattr(env, "levels", None), getattr(env, "tasks_per_level", None)
    if isinstance(levels, list | tuple) and isinstance(per, dict) and split in per:
        return len(levels) * int(per[split])
    return len(env.tasks(split))


def _line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
