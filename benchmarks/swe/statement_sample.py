"""Keep a few LLM-written problem statements of a built task set as a test fixture.

After `lbi swe build-tasks --out DIR --llm SPEC --llm-splits test`, this picks `--n` test
records whose statement the LLM wrote (one project after another, so the sample spreads
over the projects) and writes them with what the statement writer saw — the failing tests
and their failure messages (read back from the build's cache: nothing is run again) — and
the patch it never saw, so `tests/test_swe_taskset.py` can check each statement names the
failing behaviour and quotes no line of the fix.

    python benchmarks/swe/statement_sample.py --tasks /tmp/swe --n 4 \\
        --model "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (llama.cpp, lbi serve)" \\
        --write tests/fixtures/swe_statements/llm_sample.json
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lbi_icl.data.jsonl import atomic_write_text
from lbi_icl.envs.swe.taskset.build import BuildConfig, verified_drafts

MESSAGE_CHARS = 400  # a failure message is cut to this many characters in the fixture


def pick(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """`n` records, round robin over their projects (in name order), first ids first."""
    by_project: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(records, key=lambda r: r["instance_id"]):
        by_project.setdefault(r["project"], []).append(r)
    queues = [by_project[k] for k in sorted(by_project)]
    order = [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]
    return order[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=Path, required=True, help="the built task set folder")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--model", required=True, help="the model, in words, for the fixture")
    ap.add_argument("--write", type=Path, required=True)
    args = ap.parse_args()

    records = [json.loads(line) for line in (args.tasks / "test.jsonl").open()]
    by_llm = [r for r in records if r["statement_writer"].startswith("llm:")]
    if not by_llm:
        raise SystemExit(f"{args.tasks}/test.jsonl: no statement written by an LLM")
    chosen = pick(by_llm, args.n)
    projects = sorted({r["project"] for r in chosen})
    drafts, _, _ = verified_drafts(BuildConfig(out=args.tasks, projects=projects))
    messages = {d.record["instance_id"]: d.messages for d in drafts}
    out = []
    for r in chosen:
        seen = messages[r["instance_id"]]
        out.append(
            {
                "instance_id": r["instance_id"],
                "project": r["project"],
                "FAIL_TO_PASS": r["FAIL_TO_PASS"],
                "messages": {t: seen[t][:MESSAGE_CHARS] for t in r["FAIL_TO_PASS"] if t in seen},
                "patch": r["patch"],
                "problem_statement": r["problem_statement"],
                "statement_writer": r["statement_writer"],
            }
        )
    sample = {
        "model": args.model,
        "spec": chosen[0]["statement_writer"].removeprefix("llm:"),
        "made": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": f"lbi swe build-tasks --out DIR --llm {chosen[0]['statement_writer'][4:]} "
        "--llm-splits test",
        "records": out,
    }
    args.write.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.write, json.dumps(sample, indent=1, ensure_ascii=False) + "\n")
    print(f"{args.write}: {len(out)} statements ({', '.join(r['project'] for r in out)})")


if __name__ == "__main__":
    main()
