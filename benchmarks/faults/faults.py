"""Fault-injection suite for issue 10: every failure a hostile-but-realistic user met, run
against the real `lbi` command, with a table of case / expected / observed / pass.

    python benchmarks/faults/faults.py            # all cases (about 1-3 min on 2 cores)
    python benchmarks/faults/faults.py --item 2   # one item's cases

`tests/test_faults.py` runs the same cases under pytest. Every case runs `lbi` in a child
process (`python -m lbi_icl.cli`), so exit codes, stderr and logs are the real ones.
Offline: BabyAI, the hash embedder, scripted LLMs and a loopback OpenAI stub only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

# the case modules beside this file (run as a script the folder is on sys.path already;
# tests/test_faults.py loads this file by path, so it is not)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import faults_cli as cli
import faults_index as index
import faults_inputs as inputs
import faults_llm as llm
import faults_locks as locks
import faults_retrieval as retrieval
from faults_harness import Case, Workspace, run_case

# Case, Workspace and run_case are used by tests/test_faults.py through this module
__all__ = ["CASES", "Case", "Workspace", "all_cases", "main", "run_case"]

CASES: list[Case] = [
    Case(
        1, "run dir held by another process", "exit 1 naming pid, host, start", locks.case_lock_run
    ),
    Case(1, "dataset held by another process", "exit 1 naming the holder", locks.case_lock_synth),
    Case(1, "index held by another process", "exit 1 naming the holder", locks.case_lock_index),
    Case(
        1, "stale lock of a kill -9'd holder", "taken over, logged, exit 0", locks.case_lock_stale
    ),
    Case(
        1,
        "two `lbi run` into one --out",
        "one runs, one exits 1; no duplicates",
        locks.case_lock_two_runs,
    ),
    Case(
        2,
        "steps_example.npy id out of range (mtime kept)",
        "exit 1 naming the file",
        index.damage_case("steps_example.npy", index.set_value(3, 10_000), "observation", True),
    ),
    Case(
        2,
        "steps_obs.off.npy offset flipped (mtime kept)",
        "exit 1 naming the file",
        index.damage_case("steps_obs.off.npy", index.set_value(2, 1 << 40), "observation", True),
    ),
    Case(
        2,
        "bm25 indices flipped (mtime kept)",
        "exit 1 naming the file",
        index.damage_case(
            "bm25_steps/indices.csc.index.npy", index.set_value(0, 99_999), "observation", True
        ),
    ),
    Case(
        2,
        "NaN in vec_instruction.npy (mtime kept)",
        "exit 1 naming the file",
        index.damage_case(
            "vec_instruction.npy", index.set_value(5, float("nan")), "instruction", True
        ),
    ),
    Case(
        2,
        "steps_example.npy flipped (mtime changed)",
        "hash mismatch at load, exit 1",
        index.damage_case("steps_example.npy", index.flip_bit(1), "observation", False),
    ),
    Case(2, "text flip in steps_act.bin", "hash mismatch at load, exit 1", index.case_hash_at_load),
    Case(2, "`lbi index verify`", "0 on a clean index, 1 naming a damaged file", index.case_verify),
    Case(3, "LLM unreachable", "exit 1 before any episode, no --out dir", llm.case_llm_unreachable),
    Case(3, "every episode errors", "stops after 3 equal failures, exit 4", llm.case_all_errors),
    Case(3, "some episodes error", "exit 3", llm.case_some_errors),
    Case(
        4,
        "secret in --llm-base-url and key env",
        "nowhere in run dir or -vv logs",
        llm.case_secrets,
    ),
    Case(5, "binary garbage", "exit 1, one line naming the file", inputs.bad_input(inputs.binary)),
    Case(
        5,
        "truncated .gz",
        "exit 1, one line naming the file",
        inputs.bad_input(inputs.truncated_gz),
    ),
    Case(
        5,
        "plain text named .gz",
        "exit 1, one line naming the file",
        inputs.bad_input(inputs.plain_gz),
    ),
    Case(
        5,
        "a directory as data file",
        "exit 1, one line naming it",
        inputs.bad_input(inputs.directory),
    ),
    Case(
        5,
        "200k-deep nested JSON",
        "exit 1, one line naming the file",
        inputs.bad_input(inputs.deep),
    ),
    Case(
        5,
        "truncated run manifest.json",
        "`lbi report` exit 1 naming it",
        inputs.case_truncated_manifest,
    ),
    Case(5, "--out is a file", "exit 1 naming it", cli.case_out_is_file),
    Case(
        5, "LLM unreachable in synthesize", "exit 1 naming the URL", llm.case_synth_llm_unreachable
    ),
    Case(
        6,
        "lone surrogate",
        "validate and build both refuse",
        inputs.validator_and_builder(inputs.surrogate, "surrogate"),
    ),
    Case(
        6,
        "empty file",
        "validate and build both refuse",
        inputs.validator_and_builder(inputs.empty, "empty file"),
    ),
    Case(
        6,
        "0-step trajectory",
        "validate and build both refuse",
        inputs.validator_and_builder(inputs.zero_steps, "at least one step"),
    ),
    Case(
        7,
        "kill -9 of `lbi run --parallel process`",
        "workers + tracker gone",
        locks.case_kill9_workers,
    ),
    Case(8, '--strategies ""', "exit 1", cli.case_empty_strategies),
    Case(8, "index query -k 0", "usage error, non-zero", cli.case_k0),
    Case(8, "--set retrieval.m1=0 with observation", "exit 1, no --out dir", cli.case_m1_zero),
    Case(8, "the --set example in --help", "accepted", cli.case_help_example),
    Case(8, "report/export of a non-run dir", "exit 1, nothing written", cli.case_report_not_run),
    Case(8, "unknown env / missing index", "exit 1, no empty --out dir", cli.case_no_empty_out),
    Case(8, "index build over an index", "refused without --overwrite", index.case_index_overwrite),
    Case(8, "kill -9 then rerun", "old session 'killed', .tmp removed", locks.case_killed_session),
    Case(
        8,
        "--strategies commas or spaces",
        "both accepted by eval-retrieval and ablate",
        cli.case_strategy_lists,
    ),
    Case(
        9,
        "agentic under the default budget",
        "both parts kept alike; dropped recorded",
        retrieval.case_agentic_budget,
    ),
    Case(9, "step log records what was dropped", "StepLog.dropped", retrieval.case_steplog_dropped),
    Case(
        10,
        "synthesize -> index build -> rag",
        "docs beside data, found, rag runs",
        retrieval.case_docs_beside,
    ),
]


def all_cases() -> list[Case]:
    """Issue 10's cases (here) and issue 22's (faults2.py)."""
    import faults2

    return [*CASES, *faults2.CASES]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--issue", type=int, choices=[10, 22], help="only this issue's cases")
    ap.add_argument("--item", type=int, action="append", help="only these issue items")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(title="fault injection, issues 10 and 22 (offline, no LLM)")
    for col in ("issue.item", "case", "expected", "observed", "pass"):
        table.add_column(col, overflow="fold")
    failures = 0
    cases = [
        c
        for c in all_cases()
        if (not args.issue or c.issue == args.issue) and (not args.item or c.item in args.item)
    ]
    with tempfile.TemporaryDirectory(prefix="lbi-faults-") as tmp:
        shared = Path(tmp) / "shared"
        for i, case in enumerate(cases):
            root = Path(tmp) / f"c{i}"
            root.mkdir()
            if (shared / "clean-index").exists():
                shutil.copytree(shared / "clean-index", root / "clean-index")
            res = run_case(case, root)
            if (root / "clean-index").exists() and not (shared / "clean-index").exists():
                shutil.copytree(root / "clean-index", shared / "clean-index")
            failures += not res.ok
            table.add_row(
                f"{case.issue}.{case.item}",
                case.name,
                case.expected,
                res.observed,
                "[green]pass" if res.ok else "[red]FAIL",
            )
            verdict = "pass" if res.ok else "FAIL"
            print(f"{verdict}  [{case.issue}.{case.item}] {case.name}", file=sys.stderr)
    Console(width=max(160, shutil.get_terminal_size().columns)).print(table)
    print(f"{len(table.rows) - failures}/{len(table.rows)} cases pass")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
