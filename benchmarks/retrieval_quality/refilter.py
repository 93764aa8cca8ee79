"""Rerun stages 3-4 of a finished synthesis (backward construction and filters) on its saved
raw trajectories with one setting changed, through the pipeline's own code: the cleanest
way to measure a filter's effect, since the rollouts, windows and relabeler are identical
and only the filter differs. No environment is started (the environment check, which needs
a simulator, is kept off; pass --env-check to run it).

    python benchmarks/retrieval_quality/refilter.py OUT.jsonl NEW.jsonl \\
        [--failed-filter on|off] [--env-check] [--set KEY=JSON ...]

OUT.jsonl is a `lbi synthesize` output (its OUT.report.json holds the configuration and
OUT.raw.jsonl the raw trajectories); NEW.jsonl gets the examples and NEW.report.json the
stage counts. With the original configuration the output is byte-identical to OUT.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace


def refilter(
    src: Path,
    dst: Path,
    failed_filter: bool | None,
    env_check: bool,
    settings: dict[str, object] | None = None,
) -> dict[str, int]:
    from lbi_icl.data.jsonl import read_trajectories, write_jsonl
    from lbi_icl.synth.config import SynthConfig, SynthReport
    from lbi_icl.synth.pipeline import _Run, paths_for

    p = paths_for(src)
    old = json.loads(p["report"].read_text(encoding="utf-8"))
    config = SynthConfig.model_validate(old["config"])
    update: dict[str, object] = {"env_check": env_check}
    if failed_filter is not None:
        update["failed_filter"] = failed_filter
    update.update(settings or {})
    config = config.model_copy(update=update)
    report = SynthReport(config=config, output=str(dst))
    env: object = SimpleNamespace(name=config.env)
    if env_check:
        from lbi_icl.envs import make_env

        env = make_env(config.env)
    run = _Run(config, dst, env, None, [], report)  # type: ignore[arg-type]
    examples = []
    try:
        for raw in read_trajectories(p["raw"]):
            report.add("raw_trajectories")
            report.add("raw_steps", len(raw.steps))
            examples.extend(run.backward_and_filter(raw))
    finally:
        if run.checker is not None:
            close = getattr(run.checker, "close", None)
            if close is not None:
                close()
    write_jsonl(dst, examples)
    report.complete = True
    out = paths_for(dst)["report"]
    out.write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return report.counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="a finished `lbi synthesize` output (.jsonl)")
    ap.add_argument("dst", type=Path, help="new examples file (.jsonl)")
    ap.add_argument("--failed-filter", choices=["on", "off"], default=None)
    ap.add_argument("--env-check", action="store_true")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="another stage 3-4 setting of SynthConfig, e.g. repeat_filter=false",
    )
    a = ap.parse_args(argv)
    ff = None if a.failed_filter is None else a.failed_filter == "on"
    settings = {}
    for item in a.set:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--set {item!r}: expected KEY=JSON")
        settings[key] = json.loads(value)
    counts = refilter(a.src, a.dst, ff, a.env_check, settings)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
