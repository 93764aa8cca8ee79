"""Real-LLM results with the local model, produced end to end by one resumable script.

    python benchmarks/llm/run.py --out runs/bench-llm            # BabyAI + ScienceWorld
    python benchmarks/llm/run.py --out runs/bench-llm --stages report   # tables so far
    python benchmarks/llm/run.py --suite miniwob --out runs/bench-llm-miniwob   # issue 27

`--suite miniwob` (issue 27): Algorithm 1 driven by the model on MiniWoB++ and the paired
ablation with the model as policy; its stages are in miniwob_suite.py.

`--suite babyai` (the default; issue 14 §4). Stages (`--stages`, comma list; default all,
in this order):

- `data`: BabyAI train synthesis + index (`lbi quickstart --tasks 1`, its index is reused),
  ScienceWorld train synthesis + index, and held-out ScienceWorld *dev*-split gold
  trajectories (the simulator's gold paths, the first `--sw-steps-per-traj` steps of each,
  until `--sw-steps` steps) in OUT/sw/dev_gold.jsonl.
- `retrieval`: `lbi eval-retrieval` on those dev steps, once with the template query and
  once with the model writing the queries (`--llm`, cached in OUT/llm_cache.sqlite).
- `ablation`: `lbi ablate` on BabyAI test tasks with the model as policy for none,
  instruction, observation, model, agentic (paired; CPU settings in `ablation_args`).
- `report`: OUT/results.md + OUT/results.json (both tables, with n and 95 % CIs).

A local server for the fixture model (or `--model PATH.gguf`) is started for the LLM stages
(name `bench-llm`, log OUT/server.log) and stopped at the end, unless `--base-url` points at
a running one. Every stage skips what is already done, so rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import Server, lbi, lbi_json
from common import fmt_ci as _ci
from common import mcnemar as mcnemar

log = logging.getLogger("bench-llm")
STRATEGIES = ["none", "instruction", "observation", "model", "agentic"]
RETRIEVAL_STRATEGIES = ["instruction", "observation", "model", "agentic"]


# -- data ---------------------------------------------------------------------------------
def stage_data(args: argparse.Namespace) -> None:
    out: Path = args.out
    if not (out / "babyai" / "index" / "manifest.json").exists():
        lbi("quickstart", "--out", str(out / "babyai"), "--tasks", "1", "--no-progress")
    sw = out / "sw"
    sw.mkdir(parents=True, exist_ok=True)
    if not (sw / "index" / "manifest.json").exists():
        train = str(sw / "train.jsonl")
        lbi("synthesize", "--env", "scienceworld", "--split", "train", "--tasks",
            str(args.sw_train_tasks), "--out", train, "--no-progress")  # fmt: skip
        lbi("index", "build", "--trajectories", train, "--out", str(sw / "index"))
    gold = sw / "dev_gold.jsonl"
    if not gold.exists():
        write_dev_gold(gold, args.sw_steps, args.sw_steps_per_traj)


def write_dev_gold(path: Path, want_steps: int, per_traj: int) -> None:
    from lbi_icl.data.jsonl import write_jsonl
    from lbi_icl.envs import make_env

    env = make_env("scienceworld")
    trajs = []
    total = 0
    try:
        for task in env.tasks("dev"):
            if total >= want_steps:
                break
            demo = env.demonstrate(task)
            if demo is None or not demo.steps:
                continue
            steps = demo.steps[:per_traj]
            cut = len(steps) < len(demo.steps)
            final = demo.steps[per_traj].observation if cut else demo.final_observation
            trajs.append(
                demo.model_copy(
                    update={
                        "steps": steps,
                        "final_observation": final,
                        "metadata": {**demo.metadata, "gold_prefix_of": len(demo.steps)},
                    }
                )
            )
            total += len(steps)
            log.info("dev gold %s: %d steps (total %d)", task.id, len(steps), total)
    finally:
        env.close()
    write_jsonl(path, trajs)


# -- retrieval quality ---------------------------------------------------------------------
def stage_retrieval(args: argparse.Namespace, base_url: str) -> None:
    out, sw = args.out, args.out / "sw"
    common = ["eval-retrieval", "--index", str(sw / "index"), "--heldout",
              str(sw / "dev_gold.jsonl"), "--strategies", *RETRIEVAL_STRATEGIES, "-k",
              str(args.k), "--max-steps", str(args.sw_steps), *query_sets(args)]  # fmt: skip
    if not (out / "retrieval_template.json").exists():
        lbi_json(out / "retrieval_template.json", *common)
    if not (out / "retrieval_llm.json").exists():
        lbi_json(
            out / "retrieval_llm.json",
            *common,
            "--llm", f"openai:{args.alias}", "--llm-base-url", base_url,
            "--llm-cache", str(out / "llm_cache.sqlite"),
        )  # fmt: skip


def query_sets(args: argparse.Namespace) -> list[str]:
    """The CPU settings of the query-writing call (documented in docs/llm.md)."""
    return ["--set", "query_history_steps=1", "--set", "query_observation_words=40",
            "--set", "query_max_tokens=32", "--set", "query_max_words=24"]  # fmt: skip


# -- the agent ablation --------------------------------------------------------------------
def ablation_args(args: argparse.Namespace, base_url: str) -> list[str]:
    return [
        "ablate", "--env", "babyai", "--split", "test", "--tasks", str(args.babyai_tasks),
        "--policy", "llm", "--llm", f"openai:{args.alias}", "--llm-base-url", base_url,
        "--index", str(args.out / "babyai" / "index"), "--strategies", ",".join(STRATEGIES),
        "--out", str(args.out / "babyai-ablate"), "--max-steps", str(args.max_steps),
        "--no-progress",
        "--set", f"agent.context_tokens={args.ctx}", "--set", "agent.max_output_tokens=96",
        "--set", "agent.history_steps=2", "--set", "agent.observation_chars=300",
        "--set", "retrieval.m1=2", "--set", "retrieval.m2=2",
        "--set", "retrieval.k_instruction=2", "--set", "retrieval.window_before=1",
        "--set", "retrieval.window_after=1", "--set", "retrieval.max_observation_chars=200",
        "--set", "retrieval.query_history_steps=1",
        "--set", "retrieval.query_observation_words=40",
        "--set", "retrieval.query_max_tokens=32", "--set", "retrieval.query_max_words=24",
        # the layout the recorded numbers (README) were made with; the default is stable_first
        "--set", "agent.prompt_layout=examples_first",
        # and the fitting estimate they were made with (the default is now 4, util/tokenizer)
        "--set", "agent.chars_per_token=3.0",
    ]  # fmt: skip


def stage_ablation(args: argparse.Namespace, base_url: str) -> None:
    cmd = [sys.executable, "-m", "lbi_icl.cli", *ablation_args(args, base_url)]
    if args.retry_errors:
        cmd.append("--retry-errors")
    log.info("$ %s", " ".join(cmd[2:]))
    rc = subprocess.run(cmd, check=False).returncode
    if rc not in (0,):
        log.warning("lbi ablate exited %d (finished episodes are kept; rerun resumes)", rc)


# -- report --------------------------------------------------------------------------------
def retrieval_table(out: Path) -> tuple[list[str], dict[str, Any]]:
    files = {w: out / f"retrieval_{w}.json" for w in ("template", "llm")}
    if not all(f.exists() for f in files.values()):
        return ["(retrieval stage not finished)"], {}
    reps = {w: json.loads(f.read_text()) for w, f in files.items()}
    lines = [
        f"ScienceWorld dev-split gold steps: n = {reps['llm']['heldout_steps']} steps from "
        f"{reps['llm']['heldout_trajectories']} trajectories, k = {reps['llm']['k']}, "
        f"embedder {reps['llm']['embedder']}.",
        "",
        "| strategy | query writer | hit@k exact % (95% CI) | hit@k verb % (95% CI) | "
        "MRR exact (95% CI) | LLM-written queries | LLM s/step |",
        "|---|---|---|---|---|---|---|",
    ]
    data: dict[str, Any] = {}
    for strategy in RETRIEVAL_STRATEGIES:
        for writer in ("template", "llm"):
            m = next(s for s in reps[writer]["strategies"] if s["strategy"] == strategy)
            if writer == "llm" and strategy in ("instruction", "observation"):
                continue  # these strategies write no query: identical to the template run
            llm_q = sum(v for k, v in m["query_writers"].items() if k.startswith("llm:"))
            lines.append(
                f"| {strategy} | {writer if strategy in ('model', 'agentic') else '–'} | "
                f"{100 * m['hit_exact']:.1f} ({_ci(m['hit_exact_ci'])}) | "
                f"{100 * m['hit_verb']:.1f} ({_ci(m['hit_verb_ci'])}) | "
                f"{m['mrr_exact']:.3f} ({_ci(m['mrr_exact_ci'], 1, 3)}) | "
                f"{llm_q}/{m['steps']} | {m['llm_seconds'] / max(1, m['steps']):.2f} |"
            )
            data[f"{strategy}/{writer}"] = m
    lines.append("")
    for strategy in ("model", "agentic"):
        t = [r > 0 for r in data[f"{strategy}/template"]["first_exact_ranks"]]
        q = [r > 0 for r in data[f"{strategy}/llm"]["first_exact_ranks"]]
        a_only, b_only, p = mcnemar(q, t)
        lines.append(
            f"- {strategy}: model-written vs template query, paired on the same steps: "
            f"{a_only} steps hit only with the model's query, {b_only} only with the "
            f"template; exact McNemar p = {p:.3g}."
        )
    samples = data["model/llm"]["query_samples"][:3]
    lines.append(f"- first model-written queries: {samples}")
    return lines, data


def ablation_table(out: Path) -> tuple[list[str], dict[str, Any]]:
    run = out / "babyai-ablate"
    if not (run / "episodes.jsonl").exists():
        return ["(ablation stage not started)"], {}
    from lbi_icl.runner.report import build_report
    from lbi_icl.runner.results import latest_records

    rep = build_report(run)
    recs = list(latest_records(run).values())
    lines = [
        f"BabyAI test tasks, policy {rep.label}; n = finished episodes per strategy (paired "
        "on the same (task, seed)); timings and parse rates over finished episodes.",
        "",
        "| strategy | n | success % (95% CI) | vs none (pts) | McNemar p | mean steps | "
        "parsed/valid % | s/step retrieval | s/step query LLM | s/step policy LLM | "
        "s/step env |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    paired = {p.strategy: p for p in rep.paired}
    data: dict[str, Any] = {"report": json.loads(rep.model_dump_json())}
    for row in rep.strategies:
        rs = [r for r in recs if r.strategy == row.strategy and r.error is None]
        calls = sum(r.policy_calls for r in rs) or 1
        per = {
            k: sum(getattr(r, k) for r in rs) / calls
            for k in ("retrieval_s", "retrieval_llm_s", "model_s", "env_s")
        }
        p = paired.get(row.strategy)
        vs = "–" if p is None or p.difference is None else f"{100 * p.difference:+.1f}"
        pv = "–" if p is None else f"{p.p_value:.3g}"
        succ = "–" if row.success_rate is None else f"{100 * row.success_rate:.0f}"
        lines.append(
            f"| {row.strategy} | {row.finished} | {succ} "
            f"({_ci((row.ci_low, row.ci_high), 100, 0) if row.ci_low is not None else '–'}) "
            f"| {vs} | {pv} | {row.mean_steps or 0:.1f} | "
            f"{100 * (row.parsed_rate or 0):.0f}/{100 * (row.valid_rate or 0):.0f} | "
            f"{per['retrieval_s']:.2f} | {per['retrieval_llm_s']:.1f} | {per['model_s']:.1f} | "
            f"{per['env_s']:.3f} |"
        )
        data[row.strategy] = {"per_step_s": per, "errors": row.errors}
    return lines, data


def stage_report(args: argparse.Namespace) -> None:
    out = args.out
    label = (
        f"Model {args.model} (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF), engine "
        f"llama-cpp-python 0.3.36 server (llama.cpp, CPU), {args.threads} thread(s), "
        f"n_ctx {args.ctx}, temperature 0; machine {platform.node()} "
        f"({os.cpu_count()} CPUs, shared), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."
    )
    r_lines, r_data = retrieval_table(out)
    a_lines, a_data = ablation_table(out)
    head = [f"# Real-LLM results ({out})", "", label, "", "## Retrieval quality", ""]
    md = "\n".join([*head, *r_lines, "", "## Agent ablation", "", *a_lines, ""])
    (out / "results.md").write_text(md)
    (out / "results.json").write_text(
        json.dumps({"label": label, "retrieval": r_data, "ablation": a_data}, indent=2)
    )
    print(md)


def main() -> int:
    import miniwob_suite

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", choices=["babyai", "miniwob"], default="babyai")
    p.add_argument("--out", type=Path, default=None, help="default: runs/bench-llm[-miniwob]")
    p.add_argument(
        "--stages",
        default=None,
        help="babyai: data,retrieval,ablation,report (default all); miniwob: "
        f"{','.join(miniwob_suite.ALL_STAGES)} (default all), data, ablation, speed",
    )
    p.add_argument("--model", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    p.add_argument("--alias", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    p.add_argument("--base-url", default=None, help="use this running server instead")
    p.add_argument("--server-name", default=None, help="lbi serve name of the suite's server")
    p.add_argument("--keep-server", action="store_true", help="leave the server running")
    p.add_argument(
        "--threads", type=int, default=None, help="llama.cpp threads (babyai 1, miniwob 2)"
    )
    p.add_argument("--ctx", type=int, default=4096)
    p.add_argument(
        "--autogroup-nice", type=int, default=-10, help="server session CPU weight (Linux)"
    )
    p.add_argument(
        "--server-args",
        default="--logits_all false",
        help="extra llama_cpp.server options (default: logits of the last token only; the "
        "server's own default keeps n_ctx x n_vocab floats, 2.5 GB at n_ctx 4096, and "
        "computes logits for every prompt token). Not `--cache true`: its RAM prompt cache "
        "grew the server to 15.9 GB RSS here (cache_size 2 GiB) and the kernel OOM-killed it",
    )
    p.add_argument("--k", type=int, default=4, help="examples per step in eval-retrieval")
    p.add_argument("--sw-train-tasks", type=int, default=30)
    p.add_argument("--sw-steps", type=int, default=200)
    p.add_argument("--sw-steps-per-traj", type=int, default=20)
    p.add_argument("--retry-errors", action="store_true", help="rerun errored episodes")
    p.add_argument("--babyai-tasks", type=int, default=8)
    p.add_argument("--max-steps", type=int, default=8, help="BabyAI policy calls per episode")
    miniwob_suite.add_args(p)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.out is None:
        args.out = Path("runs/bench-llm" + ("-miniwob" if args.suite == "miniwob" else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.threads is None:
        args.threads = 2 if args.suite == "miniwob" else 1
    if args.suite == "miniwob":
        args.stages = args.stages or ",".join(miniwob_suite.ALL_STAGES)
        return miniwob_suite.run_suite(args)
    stages = [s.strip() for s in (args.stages or "data,retrieval,ablation,report").split(",")]
    if "data" in stages:
        stage_data(args)
    if "retrieval" in stages or "ablation" in stages:
        with Server.from_args(args, "bench-llm") as srv:
            if "retrieval" in stages:
                stage_retrieval(args, srv.base_url)
            if "ablation" in stages:
                stage_ablation(args, srv.base_url)
    if "report" in stages:
        stage_report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
