"""`lbi envs`: list the environments, whether their dependencies are installed, and how to
install them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from lbi_icl.commands.tables import print_table


def register(sub: Any) -> None:
    p = sub.add_parser("envs", help="list environments and whether they are installed")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_envs)


def _envs(args: argparse.Namespace) -> int:
    from lbi_icl.envs.registry import list_envs

    infos = list_envs()
    if args.json:
        print(json.dumps([i.model_dump() for i in infos], indent=2))
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
