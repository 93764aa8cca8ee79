"""`lbi data validate|stats`: check and summarize trajectory / document files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from lbi_icl.cli import CLIError
from lbi_icl.commands.tables import print_table


def register(sub: Any) -> None:
    p = sub.add_parser("data", help="validate and summarize JSONL data files")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    v = dsub.add_parser("validate", help="report every bad line; exit 1 if any")
    v.add_argument("files", nargs="+", type=Path)
    v.add_argument(
        "--kind",
        choices=["trajectory", "document"],
        default="trajectory",
        help="what each line must be (default: trajectory)",
    )
    v.add_argument("--max-errors", type=int, default=1000, help="stop printing after N")
    v.set_defaults(handler=_validate)

    i = dsub.add_parser(
        "import",
        help="trajectories from a Parquet file or a Hugging Face datasets folder into JSON Lines",
        description="Reads the table `lbi export --format parquet|hf` writes (or one from "
        "elsewhere whose rows are trajectory records) and checks every row exactly as `lbi "
        "data validate` checks a JSON Lines file; any bad row: nothing written, exit 1.",
    )
    i.add_argument("source", type=Path, help=".parquet file or datasets folder")
    i.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    i.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    i.set_defaults(handler=_import)

    s = dsub.add_parser("stats", help="counts by env, source kind and outcome")
    s.add_argument("files", nargs="+", type=Path)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(handler=_stats)


def _import(args: argparse.Namespace) -> int:
    from lbi_icl.data import Trajectory
    from lbi_icl.data.checks import check_rows
    from lbi_icl.data.dataset_io import input_kind, iter_table_records
    from lbi_icl.data.jsonl import DataError, write_jsonl

    if not args.out.name.endswith((".jsonl", ".jsonl.gz")):
        raise CLIError(f"--out {args.out}: must end in .jsonl or .jsonl.gz")
    if args.out.exists() and not args.overwrite:
        raise CLIError(f"--out {args.out}: exists; pass --overwrite to replace it")
    try:
        input_kind(args.source)
        trajs: list[Trajectory] = []
        problems = []
        for _, item in check_rows(str(args.source), iter_table_records(args.source), Trajectory):
            if isinstance(item, list):
                problems += item
            else:
                trajs.append(item)
    except (DataError, FileNotFoundError, ValueError, ImportError) as e:
        raise CLIError(str(e)) from e
    if problems:
        for prob in problems[:50]:
            print(str(prob).replace(f"{args.source}:", f"{args.source} row ", 1), file=sys.stderr)
        raise CLIError(f"{args.source}: {len(problems)} problem(s); nothing written")
    n = write_jsonl(args.out, trajs)
    print(f"wrote {n} trajectories to {args.out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from lbi_icl.data import Document, Trajectory
    from lbi_icl.data.checks import check_records
    from lbi_icl.data.jsonl import DataError

    model = Trajectory if args.kind == "trajectory" else Document
    bad_lines = good = printed = 0
    for path in args.files:
        if not path.exists():
            raise CLIError(f"{path}: no such file")
        try:
            for _lineno, item in check_records(path, model):
                if isinstance(item, list):
                    bad_lines += 1
                    for prob in item:
                        if printed < args.max_errors:
                            print(str(prob), file=sys.stderr)
                            printed += 1
                else:
                    good += 1
        except DataError as e:  # unreadable file: not JSONL, bad gzip, a directory
            bad_lines += 1
            print(str(e), file=sys.stderr)
    status = "ok" if bad_lines == 0 else "INVALID"
    print(
        f"{status}: {good} valid {args.kind} line(s), {bad_lines} bad line(s) "
        f"in {len(args.files)} file(s)"
    )
    return 1 if bad_lines else 0


def _stats(args: argparse.Namespace) -> int:
    from lbi_icl.data.jsonl import DataError
    from lbi_icl.data.stats import dataset_stats

    try:
        st = dataset_stats(args.files)
    except (DataError, FileNotFoundError) as e:
        raise CLIError(f"{e}\n(run `lbi data validate` to list every bad line)") from e
    if args.json:
        print(json.dumps(st.model_dump(), indent=2))
        return 0
    from rich.table import Table

    t = Table(title="dataset statistics", show_header=True)
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("trajectories", str(st.trajectories))
    t.add_row("steps", str(st.steps))
    t.add_row("steps per trajectory (mean / median)", f"{st.mean_steps:.2f} / {st.median_steps:g}")
    t.add_row("steps per trajectory (min / max)", f"{st.min_steps} / {st.max_steps}")
    for title, counts in (
        ("env", st.by_env),
        ("source kind", st.by_source_kind),
        ("outcome", st.by_outcome),
        ("instruction kind", st.by_instruction_kind),
    ):
        for key, n in counts.items():
            t.add_row(f"{title}: {key}", str(n))
    print_table(t)
    return 0
