"""A small real run for the viewer tests: BabyAI data synthesized by `lbi synthesize`, an
index built by `lbi index build` (hash embedder: fast, no model), and `lbi ablate` with the
offline retrieval policy and prompts logged. One episode is then given a hostile step
(observation with markup and script, plus fields the viewer does not know) to check that
the viewer escapes text and tolerates new step-log fields."""

from __future__ import annotations

import json
from pathlib import Path

from lbi_icl.cli import main as cli_main
from lbi_icl.runner import latest_records

STRATEGIES = ["none", "rag", "instruction", "observation", "agentic"]
TASKS = 4
TRAIN_TASKS = 4
MAX_STEPS = 15
HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>&amp; "quoted"'


def _run(argv: list[str]) -> None:
    code = cli_main(argv)
    if code != 0:
        raise RuntimeError(f"lbi {' '.join(argv)} exited {code}")


def make_run(root: Path) -> Path:
    """Build data, index and run under `root`; return the run directory."""
    data, docs, index, run = (root / n for n in ("data.jsonl", "docs.jsonl", "index", "run"))
    _run([*f"synthesize --env babyai --tasks {TRAIN_TASKS} --seed 1 --no-progress".split(),
          "--out", str(data)])  # fmt: skip
    from lbi_icl.data.jsonl import write_jsonl
    from lbi_icl.envs import make_env

    env = make_env("babyai")
    try:
        write_jsonl(docs, env.documents())
    finally:
        env.close()
    _run(["index", "build", "--trajectories", str(data), "--docs", str(docs),
          "--embedder", "hash:64", "--out", str(index)])  # fmt: skip
    _run([*f"ablate --env babyai --tasks {TASKS} --policy retrieval --no-progress".split(),
          "--strategies", ",".join(STRATEGIES), "--max-steps", str(MAX_STEPS),
          "--index", str(index), "--out", str(run)])  # fmt: skip
    return run


def hostile_episode(run: Path) -> str:
    """Rewrite the first step of one observation episode; return its key."""
    rec = next(r for r in latest_records(run).values() if r.strategy == "observation")
    path = run / rec.steps_log
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["observation"] = HOSTILE + "\n" + first["observation"]
    first["dropped"] = [dict(first["retrieved"][-1], rank=99)] if first["retrieved"] else []
    first["future_field"] = {"added_by": "another engineer", "html": "<b>not bold</b>"}
    lines[0] = json.dumps(first)
    path.write_text("\n".join(lines) + "\n")
    return rec.key


MARKER = "Zq7-marker-of-one-step"


def mark_step(run: Path, step: int = 2) -> tuple[str, int]:
    """Append MARKER to the observation of step `step` of an episode whose log has more
    steps than that (an `instruction` one if any; the only place it occurs); return
    (key, step)."""
    recs = sorted(latest_records(run).values(), key=lambda r: r.strategy != "instruction")
    for rec in recs:
        path = run / rec.steps_log
        lines = path.read_text().splitlines()
        if len(lines) > step:
            st = json.loads(lines[step])
            assert st["step"] == step
            st["observation"] += f"\nthere is a {MARKER} here"
            lines[step] = json.dumps(st)
            path.write_text("\n".join(lines) + "\n")
            return rec.key, step
    raise AssertionError(f"no episode of {run} has more than {step} steps")
