"""`lbi rescore RUN [--out FILE]`: a run's episodes scored again from its run log where the
env can score offline (lbi_icl.runner.rescore), old vs new per episode."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError, parse_key_values


def register(sub: Any) -> None:
    r = sub.add_parser(
        "rescore",
        help="score a run's episodes again from its log (swe: the recorded diff on a fresh "
        "checkout; webarena: the recorded answer and URL; desktop: the saved result files) "
        "into a new results file beside episodes.jsonl",
        description="Re-scores the latest episode of every (strategy, task, seed) of RUN with "
        "the env's offline scorer, writes the new outcomes to RUN/rescore-<UTC time>.jsonl "
        "(or --out; episodes.jsonl is never touched, nothing is overwritten) and prints old "
        "vs new per episode with the number that changed. An episode its env cannot score "
        "offline (WebArena's program_html, a desktop metric on the live desktop) keeps its "
        "outcome with the reason; an env that cannot score offline at all (BabyAI, "
        "ScienceWorld, MiniWoB++, ...) is named with the reason; exit 0.",
    )
    r.add_argument("run_dir", type=Path, help="a run directory (`lbi run|ablate --out`)")
    r.add_argument("--out", type=Path, help="where the new results go (must not exist)")
    r.add_argument(
        "--env-option", action="append", default=[], metavar="KEY=VALUE",
        help="override one of the run's env options (e.g. tasks_file=..., cache_dir=...)",
    )  # fmt: skip
    r.set_defaults(handler=_rescore)


def _score(success: bool, score: float | None) -> str:
    mark = "solved" if success else "failed"
    return mark if score is None else f"{mark} ({score:g})"


def _rescore(args: argparse.Namespace) -> int:
    from rich.table import Table

    from lbi_icl.commands.tables import print_table, print_text
    from lbi_icl.data.jsonl import DataError
    from lbi_icl.envs.base import EnvError
    from lbi_icl.runner.rescore import rescore_run

    options = parse_key_values(args.env_option, "--env-option")
    try:
        res = rescore_run(args.run_dir, args.out, env_options=options)
    except (DataError, EnvError, FileExistsError, FileNotFoundError, ImportError) as e:
        raise CLIError(str(e)) from e
    except ValueError as e:  # an unreadable manifest, a bad env option
        raise CLIError(str(e)) from e
    for line in res.cannot:
        print_text(line)
    if res.out is None:
        return 0
    t = Table(title=f"{res.run}: {res.rescored} of {len(res.rows)} episodes rescored ({res.env})")
    for col in ("strategy", "task", "seed", "old", "new", "changed", "note"):
        t.add_column(col)
    for r in res.rows:
        new = _score(r.new_success, r.new_score) if r.rescored else "-"
        changed = "yes" if r.changed else ("no" if r.rescored else "-")
        old = _score(r.old_success, r.old_score)
        t.add_row(r.strategy, r.task_id, str(r.seed), old, new, changed, r.note)
    print_table(t)
    print_text(f"{res.changed} of {res.rescored} rescored episodes changed; wrote {res.out}")
    return 0
