"""Tables of `run.py --suite miniwob` (OUT/results.md, OUT/results.json), any time: partial
runs give partial tables, each with its n.

1. the ablation per index: success with 95 % Wilson CIs, the paired difference vs `none`
   on the same (task, seed) with a 95 % bootstrap interval and the exact McNemar p,
   parsed/valid answer rates, seconds and tokens per policy call, seconds per episode;
   what each strategy was shown (`miniwob_retrieved`); then each strategy over the two
   indexes, paired; and the bid-note check (the expert
   index's none and agentic rerun with the agent told how a bid is written), paired with
   the same strategies without the note, with successes per task name, stuck steps and
   paired episodes (`miniwob_diagnosis`).
2. the data: what each synthesis produced stage by stage (documents, tasks proposed and
   kept, rollouts and how many solved their task, windows, relabels, what each filter
   removed, LLM calls, tokens and hours) and 20 random kept LLM-synthesized examples.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

from common import (
    ENGINE,
    MODEL_NAME,
    ablation_dir,
    fmt_ci,
    llm_names,
    machine,
    mcnemar,
    paired_diff_ci,
    step_log,
    utc_now,
    wilson,
)
from miniwob_diagnosis import focus_only_steps, per_task_table, stuck_table
from miniwob_retrieved import example_sources, retrieved_table
from relabel_probe import goal_copies

DATA_NAMES = {"expert": "expert (scripted solvers, offline relabeler)", "llm": "LLM (Algorithm 1)"}


def indexes(out: Path) -> list[str]:
    """`expert`, then the LLM-synthesized datasets (`llm` first, then variants)."""
    return ["expert", *llm_names(out)]


# -- the ablation ---------------------------------------------------------------------------
def records(run: Path) -> list[Any]:
    """The run's finished episodes, one per page (`one_per_page`)."""
    return one_per_page(all_records(run))


def all_records(run: Path) -> list[Any]:
    if not (run / "episodes.jsonl").exists():
        return []
    from lbi_icl.runner.results import is_finished, latest_records

    return [r for r in latest_records(run).values() if is_finished(r)]


def page_of(task_id: str) -> tuple[str, int]:
    """`click-option/seed-31/rep-1` -> (`click-option/seed-31`, 1): the page a repeat
    plays, and which repeat (0 without one)."""
    page, _, rep = task_id.rpartition("/rep-")
    return (page, int(rep)) if page and rep.isdigit() else (task_id, 0)


def one_per_page(recs: list[Any]) -> list[Any]:
    """Keep one episode per (strategy, page, run seed), the lowest repeat. BrowserGym's
    protocol draws each task's seeds with replacement, so two repeats can play the same
    page; at temperature 0 (and from the response cache) they are the same episode, and
    counting both would count one observation twice in n, the CIs and McNemar."""
    first: dict[tuple[str, str, int], Any] = {}
    for r in sorted(recs, key=lambda r: page_of(r.task_id)):
        first.setdefault((r.strategy, page_of(r.task_id)[0], r.seed), r)
    return list(first.values())


def by_pair(recs: list[Any], strategy: str) -> dict[tuple[str, int], Any]:
    return {(r.task_id, r.seed): r for r in recs if r.strategy == strategy}


def _env_errors(run: Path, recs: Any) -> tuple[int, int]:
    """(actions sent to the browser, actions BrowserGym answered with an error)."""
    executed = rejected = 0
    for r in recs:
        try:
            steps = step_log(run, r)
        except (OSError, ValueError):
            continue
        for st in steps:
            if st.get("executed"):
                executed += 1
                rejected += bool((st.get("info") or {}).get("last_action_error"))
    return executed, rejected


def strategy_row(
    run: Path, strategy: str, recs: list[Any], base: dict[tuple[str, int], Any]
) -> dict:
    mine = by_pair(recs, strategy)
    n = len(mine)
    wins = sum(r.success for r in mine.values())
    calls = sum(r.policy_calls for r in mine.values()) or 1
    row: dict[str, Any] = {
        "strategy": strategy,
        "n": n,
        "success": wins / n if n else None,
        "ci": wilson(wins, n),
        "mean_steps": sum(r.steps for r in mine.values()) / n if n else None,
        "parsed": sum(r.parsed_calls for r in mine.values()) / calls,
        "valid": sum(r.valid_calls for r in mine.values()) / calls,
        "policy_calls": calls,
    }
    for key in ("model_s", "retrieval_llm_s", "retrieval_s", "env_s", "duration_s"):
        row[f"{key}_per_call"] = sum(getattr(r, key) for r in mine.values()) / calls
    executed, rejected = _env_errors(run, mine.values())
    row["accepted"] = (executed - rejected) / executed if executed else None
    pol_in = sum(r.input_tokens - r.retrieval_input_tokens for r in mine.values())
    row["policy_in_tok"] = pol_in / calls
    row["query_in_tok"] = sum(r.retrieval_input_tokens for r in mine.values()) / calls
    row["out_tok"] = sum(r.output_tokens for r in mine.values()) / calls
    row["s_per_episode"] = sum(r.duration_s for r in mine.values()) / n if n else None
    pairs = sorted(set(mine) & set(base))
    row["pairs"] = len(pairs)
    if strategy != "none" and pairs:
        a = [mine[k].success for k in pairs]
        b = [base[k].success for k in pairs]
        row["a_only"], row["b_only"], row["p"] = mcnemar(a, b)
        row["diff"] = paired_diff_ci(a, b)
    return row


def ablation_table(run: Path, title: str) -> tuple[list[str], list[dict]]:
    every = all_records(run)
    recs = one_per_page(every)
    if not recs:
        return [f"({title}: no finished episodes yet)"], []
    base = by_pair(recs, "none")
    order = ["none", "instruction", "observation", "model", "agentic"]
    strategies = sorted(
        {r.strategy for r in recs}, key=lambda s: (order.index(s) if s in order else 9, s)
    )
    rows = [strategy_row(run, s, recs, base) for s in strategies]
    repeats = len(every) - len(recs)
    lines = (
        []
        if not repeats
        else [
            f"n counts distinct pages: {repeats} finished episode(s) replayed a page another "
            "repeat of the same task already played (BrowserGym's seeds are drawn with "
            "replacement) and are counted once.",
            "",
        ]
    )
    lines += [
        "| strategy | n | success % (95% CI) | vs none, pts (95% CI) | McNemar p (+/-) | "
        "mean steps | parsed/valid % | accepted % | s/call policy | s/call query | "
        "s/call env | tok/call policy in | tok/call query in | tok/call out | s/episode |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = r.get("diff")
        vs = "–" if not d else fmt_diff(d)
        p = "–" if "p" not in r else f"{r['p']:.3g} ({r['a_only']}/{r['b_only']})"
        succ = "–" if r["success"] is None else f"{100 * r['success']:.1f} ({fmt_ci(r['ci'])})"
        acc = "–" if r["accepted"] is None else f"{100 * r['accepted']:.0f}"
        lines.append(
            f"| {r['strategy']} | {r['n']} | {succ} | {vs} | {p} | {r['mean_steps']:.1f} | "
            f"{100 * r['parsed']:.0f}/{100 * r['valid']:.0f} | {acc} | "
            f"{r['model_s_per_call']:.1f} | "
            f"{r['retrieval_llm_s_per_call']:.1f} | {r['env_s_per_call']:.1f} | "
            f"{r['policy_in_tok']:.0f} | {r['query_in_tok']:.0f} | {r['out_tok']:.0f} | "
            f"{r['s_per_episode']:.0f} |"
        )
    return lines, rows


def fmt_diff(d: tuple[float, float, float]) -> str:
    return f"{100 * d[0]:+.1f} ({100 * d[1]:+.1f} to {100 * d[2]:+.1f})"


def paired_row(
    name: str, left: dict[tuple[str, int], Any], right: dict[tuple[str, int], Any], sign: int
) -> str | None:
    """`| name | pairs | left % | right % | difference (CI) | McNemar p (+/-) |` over the
    pairs both hold; the difference is left - right (sign 1) or right - left (sign -1)."""
    keys = sorted(set(left) & set(right))
    if not keys:
        return None
    xl = [left[k].success for k in keys]
    xr = [right[k].success for k in keys]
    x, y = (xl, xr) if sign > 0 else (xr, xl)
    x_only, y_only, p = mcnemar(x, y)
    d = paired_diff_ci(x, y)
    assert d is not None
    return (
        f"| {name} | {len(keys)} | {100 * sum(xl) / len(keys):.1f} | "
        f"{100 * sum(xr) / len(keys):.1f} | {fmt_diff(d)} | {p:.3g} ({x_only}/{y_only}) |"
    )


def control_table(run: Path, control: str = "random") -> list[str]:
    """Each example strategy paired against the control (examples drawn at random): what
    choosing examples by relevance adds over their format alone."""
    recs = records(run)
    base = by_pair(recs, control)
    if not base:
        return []
    lines = [
        f"| strategy | pairs | success % | {control} % | vs {control}, pts (95% CI) | "
        "McNemar p (+/-) |",
        "|---|---|---|---|---|---|",
    ]
    for s in sorted({r.strategy for r in recs} - {"none", control}):
        row = paired_row(s, by_pair(recs, s), base, sign=1)
        if row:
            lines.append(row)
    return lines


def paired_runs(a_run: Path, b_run: Path, a: str, b: str) -> list[str]:
    """Each strategy both runs hold, run `a` vs run `b` on shared pairs (the difference is
    b - a)."""
    a_recs, b_recs = records(a_run), records(b_run)
    if not a_recs or not b_recs:
        return []
    lines = [
        f"| strategy | pairs | {a} % | {b} % | {b} - {a}, pts (95% CI) | McNemar p ({b}+/{a}+) |",
        "|---|---|---|---|---|---|",
    ]
    for s in sorted({r.strategy for r in a_recs} & {r.strategy for r in b_recs}):
        row = paired_row(s, by_pair(a_recs, s), by_pair(b_recs, s), sign=-1)
        if row:
            lines.append(row)
    return lines


def cross_index(out: Path) -> list[str]:
    """Each strategy over the expert vs each LLM-synthesized index, and the first LLM index
    vs each variant, on shared pairs."""
    names = llm_names(out)
    pairs = [("expert", n) for n in names]
    if "llm" in names:
        pairs += [("llm", n) for n in names if n != "llm"]
    lines: list[str] = []
    for a, b in pairs:
        table = paired_runs(ablation_dir(out, a), ablation_dir(out, b), f"{a} index", f"{b} index")
        if table:
            lines += ([""] if lines else []) + table
    return lines


def note_check(out: Path) -> list[str]:
    """The bid-note rerun: its own table (none vs agentic with the note), each strategy with
    vs without the note on the same pages, then the diagnosis read from both runs' step logs
    (successes per task name, stuck steps, the expert rollout steps alike to observation
    matching) and the note run's paired episodes."""
    run = ablation_dir(out, "expert", note=True)
    plain = ablation_dir(out, "expert")
    recs = {run: records(run), plain: records(plain)}
    if not recs[run]:
        return []
    table, _ = ablation_table(run, run.name)
    lines = ["With the note (expert index):", "", *table, ""]
    pairs = paired_runs(plain, run, "no note", "note")
    lines += ["The same strategies without and with the note, paired:", "", *pairs, ""]
    arms = [
        (f"{s}{suffix}", by_pair(recs[r], s))
        for r, suffix in ((plain, ""), (run, " + note"))
        for s in ("none", "agentic")
    ]
    per_task = per_task_table([(label, p) for label, p in arms if p])
    if per_task:
        lines += ["Successes per task name, on the pages all four share:", "", *per_task, ""]
    for r, what in ((plain, "without"), (run, "with")):
        stuck = stuck_table(r, recs[r])
        if stuck:
            lines += [f"Stuck steps {what} the note (the page unchanged after an action):", ""]
            lines += [*stuck, ""]
    later, alike = focus_only_steps(out / "data" / "expert.raw.jsonl")
    if later:
        per_name = ", ".join(f"{name} {n}" for name, n in sorted(alike.items()))
        lines += [
            f"Expert rollout steps equal to the step before up to `focused` (alike to "
            f"observation matching): {sum(alike.values())} of {later} later steps"
            + (f" ({per_name})." if per_name else "."),
            "",
        ]
    episodes = side_by_side(run)
    if episodes:
        lines += ["Paired episodes with the note, none vs agentic (discordant first):", ""]
        lines += episodes
    return lines


def side_by_side(run: Path, a: str = "none", b: str = "agentic", k: int = 10) -> list[str]:
    """Up to `k` paired episodes, discordant ones first: what the model did without and with
    examples (actions as sent; `!` marks one BrowserGym answered with an error)."""
    recs = records(run)
    ra, rb = by_pair(recs, a), by_pair(recs, b)
    keys = sorted(set(ra) & set(rb), key=lambda x: (ra[x].success == rb[x].success, x))[:k]

    def acts(r: Any) -> str:
        out = []
        for st in step_log(run, r):
            bad = (st.get("info") or {}).get("last_action_error")
            out.append(f"{st.get('action')}{'!' if bad else ''}" if st.get("executed") else "–")
        return "; ".join(out)

    lines = [f"| task (seed) | {a} | {b} |", "|---|---|---|"]
    for key in keys:
        x, y = ra[key], rb[key]
        lines.append(
            f"| {key[0]} ({key[1]}) | {'✓' if x.success else '✗'} `{acts(x)}` | "
            f"{'✓' if y.success else '✗'} `{acts(y)}` |"
        )
    return lines if keys else []


# -- the data ---------------------------------------------------------------------------------
def synth_state(data: Path) -> dict[str, Any] | None:
    sf = data.with_name(data.name + ".state.json")
    return json.loads(sf.read_text()) if sf.exists() else None


def proposed_tasks(cache: Path) -> int | None:
    """Task lines self-instruct's answers held (before `parse_task_lines` kept k per page)."""
    if not cache.exists():
        return None
    from lbi_icl.prompts import default_prompts

    system = default_prompts().render("self_instruct_system")
    n = 0
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
        for request, text in db.execute("SELECT request, text FROM responses"):
            msgs = json.loads(request).get("messages", [])
            if msgs and msgs[0].get("content") == system:
                n += sum(1 for line in text.splitlines() if len(line.strip()) >= 3)
    return n


def data_table(out: Path) -> tuple[list[str], dict[str, Any]]:
    cols: dict[str, dict[str, Any]] = {}
    for which in indexes(out):
        data = out / "data" / f"{which}.jsonl"
        st = synth_state(data)
        if st is None:
            continue
        rep = st["report"]
        c = rep["counts"]
        raw = data.with_name(f"{which}.raw.jsonl")
        solved = rollouts = 0
        if raw.exists():
            for line in raw.read_text().splitlines():
                if line.strip():
                    rollouts += 1
                    solved += json.loads(line).get("outcome") == "success"
        cols[which] = {
            "tasks done": f"{st['tasks_done']} of {len(st['tasks'])}"
            + ("" if rep.get("complete") else " (partial)"),
            "documents": c.get("documents", 0),
            "tasks proposed (self-instruct lines)": proposed_tasks(out / "llm_cache.sqlite")
            if which != "expert"
            else "–",
            "tasks kept": c.get("tasks", 0),
            "rollouts attempted": c.get("rollouts_attempted", 0),
            "rollouts skipped (no trajectory)": c.get("rollouts_skipped", 0),
            "raw trajectories (steps)": f"{c.get('raw_trajectories', 0)} ({c.get('raw_steps', 0)})",
            "rollouts that solved their MiniWoB task": f"{solved} of {rollouts}",
            "windows": c.get("windows", 0),
            "relabels (examples after backward construction)": c.get("examples_backward", 0),
            "- steps BrowserGym rejected, cut (in examples)": f"{c.get('failed_steps_cut', 0)} "
            f"({c.get('examples_with_failed_steps', 0)})",
            "- examples left with no step": c.get("dropped_all_failed", 0),
            "- failed the environment check": c.get("dropped_env_check", 0),
            "- repeated steps removed (steps)": c.get("repeat_steps_removed", 0),
            "- rejected by the committee": c.get("dropped_committee", 0),
            "- exact duplicates": c.get("dropped_duplicates", 0),
            "examples kept": c.get("examples_final", 0),
            "abstract instructions that are the page's goal verbatim (over unsolved windows)": (
                "{1} of {0} ({2})".format(*goal_copies(data))
            ),
            "LLM calls": rep.get("llm_calls", 0),
            "LLM tokens in / out": f"{rep.get('llm_input_tokens', 0):,} / "
            f"{rep.get('llm_output_tokens', 0):,}",
            "hours (synthesis wall time so far)": f"{_hours(rep):.2f}",
        }
    if not cols:
        return ["(no synthesis started yet)"], {}
    keys = list(next(iter(cols.values())))
    lines = [
        "| | " + " | ".join(DATA_NAMES.get(w, f"LLM, variant `{w}`") for w in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    lines += [f"| {k} | " + " | ".join(str(cols[w][k]) for w in cols) + " |" for k in keys]
    return lines, cols


def _hours(rep: dict[str, Any]) -> float:
    """Wall time, never less than the stages' own times: those add up over resumed runs,
    while a dataset resumed before the total was saved per task counts only its last
    process in the total."""
    s = rep.get("seconds", {})
    stages = sum(v for k, v in s.items() if k != "total")
    return max(float(s.get("total", 0.0)), stages) / 3600


def kept_examples(data: Path, k: int = 20, seed: int = 27) -> list[str]:
    if not data.exists():
        return []
    lines = [ln for ln in data.read_text().splitlines() if ln.strip()]
    picked = random.Random(seed).sample(lines, min(k, len(lines)))
    out = []
    for i, line in enumerate(picked, 1):
        t = json.loads(line)
        src = t.get("source", {})
        acts = "; ".join(s["action"] for s in t["steps"])
        out.append(
            f"{i}. [{src.get('instruction_kind')}] **{t['instruction']}** — actions: `{acts}` "
            f"(task {t['metadata'].get('task_id')}, window {src.get('span')}, parent goal: "
            f"{t['metadata'].get('parent_instruction')!r})"
        )
    return out


# -- the report -------------------------------------------------------------------------------
def load_range(out: Path) -> str:
    """The 1-minute load average over the suite's progress lines: median, 90th percentile
    and maximum, so a short burst (a package install beside the suite) does not read as
    the load every number ran under."""
    f = out / "progress.jsonl"
    if not f.exists():
        return "unknown"
    loads = []
    for line in f.read_text().splitlines():
        try:
            loads.append(float(json.loads(line)["load"].split("/")[0]))
        except (ValueError, KeyError, IndexError):
            continue
    if not loads:
        return "unknown"
    loads.sort()
    median, p90 = loads[len(loads) // 2], loads[int(0.9 * (len(loads) - 1))]
    return f"median {median:.1f}, 90th percentile {p90:.1f}, max {loads[-1]:.1f}"


def stage_report(args: argparse.Namespace) -> None:
    out: Path = args.out
    meta = out / "suite.json"
    runs = json.loads(meta.read_text()).get("runs", []) if meta.exists() else []
    argv = runs[-1]["argv"] if runs else ["benchmarks/llm/run.py", "--suite", "miniwob"]
    since = f", started {runs[0]['started']}" if runs else ""
    label = (
        f"Model {MODEL_NAME}; engine {ENGINE}, server args `{args.server_args}`, "
        f"{args.threads} thread(s), n_ctx {args.ctx}, temperature 0; prompt layout "
        f"{args.layout}; machine {machine()}, 1-min load average ({load_range(out)}) while the "
        f"suite ran{since}; report written {utc_now()}. Command: `python {' '.join(argv)}`."
    )
    md = [f"# MiniWoB++ with the local model ({out})", "", label, ""]
    data: dict[str, Any] = {"label": label}
    for which in indexes(out):
        run = ablation_dir(out, which)
        lines, rows = ablation_table(run, run.name)
        md += [f"## Ablation, {which}-synthesized index", "", *lines, ""]
        data[f"ablate-{which}"] = rows
        control = control_table(run)
        if control:
            md += [f"Against the `random` control ({which} index, same pages):", "", *control, ""]
        pairs = side_by_side(run)
        if pairs:
            md += [f"Paired episodes, none vs agentic ({which} index; discordant first):", ""]
            md += [*pairs, ""]
        sources = example_sources(out / f"index-{which}", out / "data" / f"{which}.raw.jsonl")
        shown = retrieved_table(run, records(run), sources)
        if shown:
            md += [f"What the agent was shown ({which} index, every step's examples):", ""]
            md += [*shown, ""]
    cross = cross_index(out)
    if cross:
        md += ["## The two indexes, paired", "", *cross, ""]
    note = note_check(out)
    if note:
        md += ["## The bid note: the zero-shot row's wording confound", "", *note, ""]
    speed = out / "speed" / "speed.md"
    if speed.exists():
        md += [
            "#" + line if line.startswith("#") else line for line in speed.read_text().splitlines()
        ]
        md += [""]
    d_lines, d_data = data_table(out)
    md += ["## Data", "", *d_lines, ""]
    data["data"] = d_data
    for name in llm_names(out):
        examples = kept_examples(out / "data" / f"{name}.jsonl")
        if examples:
            what = "LLM-synthesized examples" if name == "llm" else f"examples of `{name}`"
            md += [f"### 20 random kept {what} (seed 27)", "", *examples, ""]
    text = "\n".join(md)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(text)
