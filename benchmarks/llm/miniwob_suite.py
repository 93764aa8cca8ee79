"""`run.py --suite miniwob`: Algorithm 1 driven by the local model on MiniWoB++, and the
paired ablation with the model as policy (issue 27), as one resumable command.

Stages (`--stages`, comma list, run in this order; default all; `data` =
data-expert,data-llm, `ablation` = ablate-expert,ablate-llm,ablate-note):

- `data-expert`: `lbi synthesize --env miniwob --explorers expert` on the train seeds of
  the suite's 30 task names (the web engineer's scripted solvers; offline relabeler), then
  `lbi index build` -> OUT/index-expert.
- `ablate-expert`: `lbi ablate` on the test tasks (BrowserGym's protocol: the benchmark's
  own seeds, action set miniwob_all) with the model as policy and query writer, strategies
  none, instruction, observation, agentic and task_aware, paired on the same (task, seed),
  over the expert index, plus the control `random` (windows drawn at random: the examples'
  format without their relevance) -> OUT/ablate-expert.
- `data-llm`: Algorithm 1 with the model in every LLM stage — self-instruct from the
  documents, LLM rollouts, LLM backward construction, the committee (the same model) —
  `lbi synthesize --env miniwob --llm ... --committee ... --llm-base-url ...`, then
  `lbi index build` -> OUT/index-llm. The explorer's system prompt says how a bid is written
  (`--explorer-prompt`), and steps BrowserGym rejected are cut (`--cut-failed-steps`).
- `ablate-llm`: the same ablation over the LLM-synthesized index -> OUT/ablate-llm
  (`none` is in both runs; the shared response cache answers it the second time).
  `--llm-name NAME` keeps another LLM-synthesized variant beside it (OUT/data/NAME.jsonl,
  OUT/index-NAME, OUT/ablate-NAME), e.g. the data rebuilt after a pipeline change.
- `ablate-note`: a confound check on the expert index: `--note-strategies` (none, agentic)
  again on the same pages with the agent's system message saying how a bid is written (the
  explorer's note), so the zero-shot row is not failing on our own wording of the action
  space alone -> OUT/ablate-expert-note.
- `speed` (after data-expert): what speeds CPU inference here, measured once on the
  suite's own prompts (miniwob_speed.py; skipped once OUT/speed/speed.json is finished).
- `report`: OUT/results.md + OUT/results.json (miniwob_report.py), any time.

Every stage skips what is done, and each `lbi` command resumes its own output, so rerunning
the same command goes on where it stopped. One response cache (OUT/llm_cache.sqlite) serves
every LLM call. Progress: a line per minute in the log and OUT/progress.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import Server, ablation_dir, lbi, lbi_cmd, llm_names, load_average, utc_now

log = logging.getLogger("bench-llm")

# The 20 test task names: solvable from the accessibility tree with click / fill in a few
# actions, each with a scripted expert (lbi_icl/envs/browsergym/experts). Train data covers
# these names plus 10 more (other seeds: train seeds start at 1000, test seeds lie in [0, 34)).
TEST_NAMES = [
    "click-button", "click-button-sequence", "click-checkboxes", "click-collapsible",
    "click-dialog", "click-dialog-2", "click-link", "click-option", "click-tab", "click-test",
    "click-test-2", "click-widget", "enter-password", "enter-text", "enter-text-2",
    "focus-text", "focus-text-2", "login-user", "navigate-tree", "use-autocomplete",
]  # fmt: skip
EXTRA_TRAIN_NAMES = [
    "click-collapsible-2", "click-tab-2", "click-checkboxes-transfer", "click-test-transfer",
    "enter-text-dynamic", "login-user-popup", "multi-layouts", "simple-arithmetic",
    "odd-or-even", "unicode-test",
]  # fmt: skip
STRATEGIES = ["none", "instruction", "observation", "agentic", "task_aware"]
# Run on the expert index only: `random` (windows drawn at random, same shape and budget as
# `observation`) tells the examples' format from their relevance where the effect is.
EXPERT_CONTROLS = ["random"]
ALL_STAGES = [
    "data-expert", "speed", "ablate-expert", "data-llm", "ablate-llm", "ablate-note", "report",
]  # fmt: skip
NOTE_STRATEGIES = ["none", "agentic"]
ALIASES = {
    "data": ["data-expert", "data-llm"],
    "ablation": ["ablate-expert", "ablate-llm", "ablate-note"],
}

# The prompt layout for llama.cpp's prefix reuse (docs/llm.md, "real model"): the agent's
# system message first in both calls of a step, then objective and current observation,
# so the query-writing call and the policy call share everything up to the observation;
# the examples come after it (they change every step), then the answer format.
AGENT_USER = """## Objective
$instruction

## Current observation
$observation${valid_actions_section}

## Interaction history
$history

${reference_section}Answer with a reason and an action, in exactly this format:
$answer_format"""
QUERY_USER = """## Objective
$instruction

## Current observation
$observation

## Interaction history
$history

Do not act now. Which examples of past interactions would best help predict the next \
action? Describe them as one short search query (a task and the kind of actions it \
involves). Answer with the query only."""


def add_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("--suite miniwob")
    g.add_argument(
        "--test-episodes",
        type=int,
        default=62,
        help="test tasks, in the protocol's order: its first 62 are 60 distinct pages (its "
        "seeds are drawn with replacement; the report counts a repeated page once)",
    )
    g.add_argument("--expert-tasks", type=int, default=90, help="train tasks for the experts")
    g.add_argument(
        "--llm-name",
        default="llm",
        help="name of the LLM-synthesized dataset, index and ablation (data-llm, ablate-llm): "
        "another name keeps a variant beside the first",
    )
    g.add_argument("--llm-tasks", type=int, default=32, help="self-instructed tasks")
    g.add_argument("--llm-tasks-per-document", type=int, default=1)
    g.add_argument("--llm-max-steps", type=int, default=5, help="LLM rollout step limit")
    g.add_argument("--llm-window-max", type=int, default=3)
    g.add_argument("--llm-windows-per-trajectory", type=int, default=6)
    g.add_argument(
        "--explorer-prompt",
        choices=["bid-note", "packaged"],
        default="bid-note",
        help="the LLM explorer's system prompt: the packaged one with a note on how a bid is "
        "written (default), or the packaged one as it is",
    )
    g.add_argument("--policy-calls", type=int, default=6, help="policy calls per episode")
    g.add_argument("--mw-strategies", default=",".join(STRATEGIES))
    g.add_argument(
        "--mw-expert-controls",
        default=",".join(EXPERT_CONTROLS),
        help="control strategies added to the expert-index ablation only ('' for none)",
    )
    g.add_argument(
        "--note-strategies",
        default=",".join(NOTE_STRATEGIES),
        help="strategies the ablate-note stage reruns with the bid note in the agent's system "
        "message (expert index, same pages)",
    )
    g.add_argument(
        "--layout",
        choices=["shared-prefix", "paper"],
        default="shared-prefix",
        help="prompt layout: shared-prefix (query and policy calls share system + objective "
        "+ observation; examples after the observation) or the paper's (examples first)",
    )
    g.add_argument("--max-tree-chars", type=int, default=4000, help="tree cut (env option)")
    g.add_argument(
        "--action-subsets",
        default="bid",
        help="BrowserGym action subsets of the LLM rollouts and the agent (env option "
        "action_subsets; the protocol's own is miniwob_all, whose coordinate actions the "
        "text agent sees no coordinates for); '' keeps the protocol's",
    )
    g.add_argument("--max-output-tokens", type=int, default=80)
    g.add_argument("--speed-tasks", type=int, default=2, help="episodes the speed stage records")


def train_names() -> list[str]:
    return [*TEST_NAMES, *EXTRA_TRAIN_NAMES]


def stages_of(text: str) -> list[str]:
    wanted: list[str] = []
    for s in (x.strip() for x in text.split(",") if x.strip()):
        wanted += ALIASES.get(s, [s])
    order = ALL_STAGES
    unknown = [s for s in wanted if s not in order]
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; choose from {order}")
    return sorted(set(wanted), key=order.index)


# -- settings -------------------------------------------------------------------------------
def env_options(names: list[str], args: argparse.Namespace, agent: bool = True) -> list[str]:
    """Task names and the tree cut; for the LLM (rollouts, agent, not the scripted experts,
    which use the protocol's miniwob_all actions) the action subsets."""
    out = [
        "--env-option", f"task_names={json.dumps(names)}",
        "--env-option", f"max_tree_chars={args.max_tree_chars}",
    ]  # fmt: skip
    subsets = [x.strip() for x in args.action_subsets.split(",") if x.strip()]
    if agent and subsets:
        out += ["--env-option", f"action_subsets={json.dumps(subsets)}"]
    return out


def prompt_files(args: argparse.Namespace, note: bool = False) -> list[str]:
    """The layout's template overrides (written once into OUT/prompts); with `note`, the
    agent's system message also says how a bid is written (OUT/prompts-note)."""
    from lbi_icl.prompts.templates import default_template

    folder = args.out / ("prompts-note" if note else "prompts")
    files: dict[str, str] = {}
    if note:  # the packaged system template with the note after the action space
        packaged = default_template("agent_system").text
        files["agent_system"] = packaged.replace("$action_space", f"$action_space\n\n{BID_NOTE}")
    if args.layout == "paper":  # the packaged templates in the paper's layout
        out = ["--set", "agent.prompt_layout=examples_first"]
        return out + [f for n, t in files.items() for f in template_option(folder, n, t)]
    from lbi_icl.agent.prompt import system_message
    from lbi_icl.envs import make_env

    subsets = [x.strip() for x in args.action_subsets.split(",") if x.strip()]
    env = make_env("miniwob", **({"action_subsets": subsets} if subsets else {}))
    try:
        action_space = env.action_space_text().strip()
    finally:
        env.close()
    if note:
        action_space += f"\n\n{BID_NOTE}"
    system = system_message(action_space, "miniwob")
    files |= {
        "agent_user": AGENT_USER,
        "query_user": QUERY_USER,
        # the query writer gets the agent's own system message: one cached prefix for both
        "query_system": system.replace("$", "$$"),
    }
    return [f for name, text in files.items() for f in template_option(folder, name, text)]


def template_option(folder: Path, name: str, text: str) -> list[str]:
    return ["--prompt", f"{name}={write_template(folder, name, text)}"]


def write_template(folder: Path, name: str, text: str) -> Path:
    """OUT/prompts/NAME.txt, rewritten only when its text changed (the run fingerprint holds
    the template's hash, so a resumed run sees the same file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    if not path.exists() or path.read_text() != text + "\n":
        path.write_text(text + "\n")
    return path


def agent_sets(args: argparse.Namespace) -> list[str]:
    """The CPU settings of the policy and the query writer (documented in the README)."""
    sets = {
        "agent.context_tokens": args.ctx,
        "agent.max_output_tokens": args.max_output_tokens,
        "agent.chars_per_token": 3.0,  # the recorded runs' fitting estimate (default now 4)
        "agent.history_steps": 3,
        "agent.observation_chars": 300,
        "agent.current_observation_chars": args.max_tree_chars + 400,
        "agent.require_valid_action": "false",  # fill("5", "any text") is not listed
        "retrieval.m1": 2,
        "retrieval.m2": 2,
        "retrieval.k_instruction": 2,
        "retrieval.window_before": 1,
        "retrieval.window_after": 0,
        "retrieval.max_observation_chars": 300,
        "retrieval.token_budget": 1000,
        "retrieval.query_history_steps": 1,
        "retrieval.query_max_tokens": 32,
        "retrieval.query_max_words": 24,
    }
    out: list[str] = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


# -- data -----------------------------------------------------------------------------------
def data_paths(out: Path, which: str) -> dict[str, Path]:
    d = out / "data"
    return {"data": d / f"{which}.jsonl", "index": out / f"index-{which}", "log": d / "lbi.log"}


def index_done(index: Path) -> bool:
    return (index / "manifest.json").exists()


def synth_complete(data: Path) -> bool:
    state = data.with_name(data.name + ".state.json")
    if not state.exists():
        return False
    return bool(json.loads(state.read_text())["report"].get("complete"))


def stage_data_expert(args: argparse.Namespace) -> None:
    p = data_paths(args.out, "expert")
    p["data"].parent.mkdir(parents=True, exist_ok=True)
    if not synth_complete(p["data"]):
        lbi("synthesize", "--env", "miniwob", "--split", "train", "--tasks",
            str(args.expert_tasks), "--explorers", "expert", "--out", str(p["data"]),
            *env_options(train_names(), args, agent=False), "--no-progress")  # fmt: skip
    if not index_done(p["index"]):
        lbi("index", "build", "--trajectories", str(p["data"]), "--out", str(p["index"]))


# How a bid is written, said to the LLM explorer (its system prompt: the packaged one plus
# this note) and, in the ablate-note stage, to the policy. Without the note the model copies
# the tree's `[13]` into `click([13])`, which BrowserGym rejects: the first two
# self-instructed rollouts were rejected at every step.
BID_NOTE = """\
An element's bid is the number in brackets before it in the accessibility tree, written as a
quoted string: for `[13] button 'OK'` the action is click("13"); for `[14] textbox ''` it is
fill("14", "some text")."""
ROLLOUT_SYSTEM = f"""You are an agent acting in the environment "$env".
$action_space

{BID_NOTE}

At every turn, think briefly, then give your action on the last line as
Action: <action>"""


def explorer_options(args: argparse.Namespace) -> list[str]:
    """The LLM explorer's prompt and the failed-step filter (steps BrowserGym rejected)."""
    out = ["--cut-failed-steps"]
    if args.explorer_prompt == "bid-note":
        path = write_template(args.out / "prompts", "rollout_system", ROLLOUT_SYSTEM)
        out += ["--prompt", f"rollout_system={path}"]
    return out


def stage_data_llm(args: argparse.Namespace, srv: Server) -> None:
    p = data_paths(args.out, args.llm_name)
    p["data"].parent.mkdir(parents=True, exist_ok=True)
    if not synth_complete(p["data"]):
        lbi("synthesize", "--env", "miniwob", "--split", "train", "--tasks",
            str(args.llm_tasks), "--llm", srv.spec, "--llm-base-url", srv.base_url,
            "--llm-cache", str(args.out / "llm_cache.sqlite"), "--committee", srv.spec,
            "--task-source", "self_instruct", "--explorers", "llm", "--writer", "llm",
            "--tasks-per-document", str(args.llm_tasks_per_document),
            "--max-steps", str(args.llm_max_steps), "--window-max", str(args.llm_window_max),
            "--windows-per-trajectory", str(args.llm_windows_per_trajectory),
            "--out", str(p["data"]), *env_options(train_names(), args),
            *explorer_options(args), "--no-progress")  # fmt: skip
    if not index_done(p["index"]):
        lbi("index", "build", "--trajectories", str(p["data"]), "--out", str(p["index"]))


# -- the ablation ---------------------------------------------------------------------------
def strategies(args: argparse.Namespace, which: str) -> str:
    """The index's strategy list: the compared ones, plus the controls on the expert index."""
    names = [s for s in args.mw_strategies.split(",") if s]
    if which == "expert":
        names += [s for s in args.mw_expert_controls.split(",") if s and s not in names]
    return ",".join(names)


def ablation_cmd(
    args: argparse.Namespace, srv: Server, which: str, note: bool = False
) -> list[str]:
    names = args.note_strategies if note else strategies(args, which)
    return [
        "ablate", "--env", "miniwob", "--split", "test", "--tasks", str(args.test_episodes),
        *env_options(TEST_NAMES, args),
        "--policy", "llm", "--llm", srv.spec, "--llm-base-url", srv.base_url,
        "--llm-cache", str(args.out / "llm_cache.sqlite"),
        "--index", str(args.out / f"index-{which}"), "--strategies", names,
        "--out", str(ablation_dir(args.out, which, note)), "--max-steps", str(args.policy_calls),
        "--no-progress", *agent_sets(args), *prompt_files(args, note),
    ]  # fmt: skip


def stage_ablation(args: argparse.Namespace, srv: Server, which: str, note: bool = False) -> None:
    if not index_done(args.out / f"index-{which}"):
        log.warning("ablate-%s: no index yet (run the data-%s stage first)", which, which)
        return
    cmd = ablation_cmd(args, srv, which, note)
    if args.retry_errors:
        cmd.append("--retry-errors")
    log.info("$ lbi %s", " ".join(cmd))
    rc = subprocess.run(lbi_cmd(*cmd), check=False).returncode
    if rc == 3:
        log.warning("ablate-%s: some episodes errored (rerun with --retry-errors)", which)
    elif rc != 0:
        log.warning("lbi ablate exited %d (finished episodes are kept; rerun resumes)", rc)


# -- progress ------------------------------------------------------------------------------
def progress(out: Path) -> dict[str, Any]:
    """What is done so far, read from the files the stages write."""
    state: dict[str, Any] = {"at": utc_now(), "load": load_average()}
    names = ["expert", *llm_names(out)]
    for which in names:
        st = data_paths(out, which)["data"]
        sf = st.with_name(st.name + ".state.json")
        if sf.exists():
            s = json.loads(sf.read_text())
            c = s["report"]["counts"]
            state[f"data-{which}"] = {
                "tasks_done": s["tasks_done"],
                "tasks": len(s["tasks"]),
                "raw": c.get("raw_trajectories", 0),
                "examples": c.get("examples_final", 0),
                "llm_calls": s["report"].get("llm_calls", 0),
                "complete": s["report"].get("complete", False),
            }
    runs = [(f"ablate-{w}", ablation_dir(out, w)) for w in names]
    runs.append(("ablate-note", ablation_dir(out, "expert", note=True)))
    for name, run in runs:
        done = successes(run / "episodes.jsonl")
        if done is not None:
            state[name] = done
    return state


def successes(eps: Path) -> dict[str, str] | None:
    """`{strategy: "wins/episodes"}` of a run (None before its first episode). An episode
    rerun with --retry-errors appends a second line: the last one counts."""
    if not eps.exists():
        return None
    per: dict[str, dict[str, bool]] = {}
    for line in eps.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = r.get("key") or f"{r['task_id']}|{r.get('seed')}"
        per.setdefault(r["strategy"], {})[key] = bool(r.get("success"))
    return {k: f"{sum(v.values())}/{len(v)}" for k, v in per.items()}


class Progress(threading.Thread):
    def __init__(self, out: Path, every_s: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.out, self.every_s = out, every_s
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.tick()

    def tick(self) -> None:
        try:
            st = progress(self.out)
        except (OSError, ValueError, KeyError) as e:
            log.warning("progress: %s", e)
            return
        (self.out / "progress.json").write_text(json.dumps(st, indent=1) + "\n")
        with (self.out / "progress.jsonl").open("a") as fh:  # the load seen, for the labels
            fh.write(json.dumps(st) + "\n")
        log.info("progress %s", json.dumps(st))


# -- entry ----------------------------------------------------------------------------------
def run_suite(args: argparse.Namespace) -> int:
    from miniwob_report import stage_report

    stages = stages_of(args.stages)
    log.info("suite miniwob, stages %s, out %s", ",".join(stages), args.out)
    if stages != ["report"]:  # every start of the suite, for the labels: command and date
        meta = args.out / "suite.json"
        runs = json.loads(meta.read_text())["runs"] if meta.exists() else []
        runs.append({"argv": sys.argv, "stages": stages, "started": utc_now()})
        meta.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    ticker = Progress(args.out)
    ticker.start()
    t0 = time.time()
    try:
        if "data-expert" in stages:
            stage_data_expert(args)
        llm_stages = {"ablate-expert", "data-llm", "ablate-llm", "ablate-note", "speed"}
        llm_stages &= set(stages)
        if llm_stages:
            with Server.from_args(args, "bench-llm-miniwob") as srv:
                if "speed" in stages:
                    from miniwob_speed import stage_speed

                    stage_speed(args, srv)
                if "ablate-expert" in stages:
                    stage_ablation(args, srv, "expert")
                if "data-llm" in stages:
                    stage_data_llm(args, srv)
                if "ablate-llm" in stages:
                    stage_ablation(args, srv, args.llm_name)
                if "ablate-note" in stages:
                    stage_ablation(args, srv, "expert", note=True)
    finally:
        ticker.stop.set()
        ticker.tick()
    if "report" in stages:
        stage_report(args)
    log.info("suite miniwob: stages %s done in %.0f s", ",".join(stages), time.time() - t0)
    return 0
