"""The real-LLM benchmark's report stage (benchmarks/llm/run.py) on eval-retrieval outputs
made here by the real CLI on the toy index, with a scripted query writer standing in for
the model, so the script cannot rot without a model on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lbi_icl.cli import main

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "llm" / "run.py"
FIX = ROOT / "tests" / "fixtures" / "retrieval"


def test_llm_benchmark_report_stage(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    out.mkdir()
    idx = tmp_path / "idx"
    assert main(["index", "build", "--trajectories", str(FIX / "trajectories.jsonl"),
                 "--out", str(idx), "--embedder", "hash"]) == 0  # fmt: skip
    script = tmp_path / "queries.json"
    script.write_text(json.dumps({"default": "Query: **open the red door**"}))
    common = ["eval-retrieval", "--index", str(idx), "--heldout", str(FIX / "heldout.jsonl"),
              "--strategies", "instruction", "observation", "model", "agentic", "-k", "2",
              "--json"]  # fmt: skip
    capsys.readouterr()
    for name, extra in (("template", []), ("llm", ["--llm", f"scripted:{script}"])):
        assert main([*common, *extra]) == 0
        (out / f"retrieval_{name}.json").write_text(capsys.readouterr().out)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--out", str(out), "--stages", "report"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "results.md").read_text()
    assert "| model | llm |" in md and "| agentic | template |" in md
    assert "'open the red door'" in md  # the cleaned scripted query
    assert "exact McNemar p =" in md and "(ablation stage not started)" in md
    data = json.loads((out / "results.json").read_text())
    assert data["retrieval"]["model/llm"]["query_writers"] == {
        f"llm:scripted:{script}": data["retrieval"]["model/llm"]["steps"]
    }


def test_miniwob_report_counts_a_repeated_page_once(monkeypatch) -> None:
    """BrowserGym draws seeds with replacement: two repeats of one task can play the same
    page; the MiniWoB report keeps the lowest repeat per (strategy, page, seed)."""
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_report import one_per_page, page_of

    assert page_of("click-option/seed-31/rep-1") == ("click-option/seed-31", 1)
    assert page_of("click-option/seed-31") == ("click-option/seed-31", 0)

    def rec(task_id: str, strategy: str = "none", seed: int = 0) -> SimpleNamespace:
        return SimpleNamespace(task_id=task_id, strategy=strategy, seed=seed)

    recs = [
        rec("click-option/seed-31/rep-1"),
        rec("click-option/seed-31/rep-0"),
        rec("click-option/seed-2/rep-2"),
        rec("click-option/seed-31/rep-1", strategy="agentic"),
        rec("click-option/seed-31/rep-1", seed=1),
        rec("click-option/seed-4/rep-10"),
        rec("click-option/seed-4/rep-2"),
    ]
    kept = sorted((r.strategy, r.task_id, r.seed) for r in one_per_page(recs))
    assert kept == [
        ("agentic", "click-option/seed-31/rep-1", 0),
        ("none", "click-option/seed-2/rep-2", 0),
        ("none", "click-option/seed-31/rep-0", 0),
        ("none", "click-option/seed-31/rep-1", 1),
        ("none", "click-option/seed-4/rep-2", 0),
    ]


def test_miniwob_suite_progress_counts_a_retried_episode_once(tmp_path: Path, monkeypatch) -> None:
    """`--retry-errors` appends a second line for an errored episode; progress counts the
    last line per episode, not every line."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_suite import progress

    eps = tmp_path / "ablate-expert" / "episodes.jsonl"
    eps.parent.mkdir()

    def line(task: str, strategy: str, success: bool, error: str | None = None) -> str:
        key = f"{strategy}|{task}|0"
        row = {"key": key, "task_id": task, "seed": 0, "strategy": strategy}
        return json.dumps({**row, "success": success, "error": error})

    eps.write_text(
        "\n".join([
            line("click-tab/seed-1", "agentic", False, error="server went away"),
            line("click-tab/seed-2", "agentic", True),
            line("click-tab/seed-1", "none", False),
            line("click-tab/seed-1", "agentic", True),  # the retry
            "{not json",  # a line cut by a kill is skipped
        ])
        + "\n"
    )  # fmt: skip
    state = progress(tmp_path)
    assert state["ablate-expert"] == {"agentic": "2/2", "none": "0/1"}
    assert "ablate-note" not in state  # not started
    note = tmp_path / "ablate-expert-note" / "episodes.jsonl"
    note.parent.mkdir()
    note.write_text(line("click-tab/seed-1", "none", True) + "\n")
    assert progress(tmp_path)["ablate-note"] == {"none": "1/1"}


def test_miniwob_suite_runs_the_controls_on_the_expert_index_only(monkeypatch) -> None:
    from argparse import Namespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_suite import strategies

    args = Namespace(mw_strategies="none,agentic", mw_expert_controls="random")
    assert strategies(args, "expert") == "none,agentic,random"
    assert strategies(args, "llm") == "none,agentic"
    assert strategies(Namespace(mw_strategies="none,random", mw_expert_controls="random"),
                      "expert") == "none,random"  # fmt: skip
    assert strategies(Namespace(mw_strategies="none", mw_expert_controls=""), "expert") == "none"


def test_miniwob_suite_explorer_prompt_says_how_a_bid_is_written(
    tmp_path: Path, monkeypatch
) -> None:
    from argparse import Namespace

    from lbi_icl.prompts import load_prompts

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_suite import explorer_options

    opts = explorer_options(Namespace(out=tmp_path, explorer_prompt="bid-note"))
    assert opts[0] == "--cut-failed-steps" and opts[1] == "--prompt"
    name, path = opts[2].split("=", 1)
    system = load_prompts({name: path}).render("rollout_system", env="miniwob", action_space="A")
    assert 'click("13")' in system
    assert system.startswith('You are an agent acting in the environment "miniwob".\nA\n')
    packaged = explorer_options(Namespace(out=tmp_path, explorer_prompt="packaged"))
    assert packaged == ["--cut-failed-steps"]


def test_miniwob_report_pairs_each_strategy_with_the_random_control(monkeypatch) -> None:
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    import miniwob_report

    def rec(strategy: str, page: int, success: bool) -> SimpleNamespace:
        return SimpleNamespace(
            strategy=strategy, task_id=f"click-tab/seed-{page}/rep-0", seed=0, success=success
        )

    wins = {"none": [0, 0, 0, 0], "random": [1, 0, 0, 0], "agentic": [1, 1, 1, 0]}
    recs = [rec(s, i, bool(w)) for s, ws in wins.items() for i, w in enumerate(ws)]
    recs.append(rec("observation", 0, True))  # paired on one page only
    monkeypatch.setattr(miniwob_report, "all_records", lambda run: recs)
    rows = miniwob_report.control_table(Path("unused"))
    assert rows[2].startswith("| agentic | 4 | 75.0 | 25.0 | +50.0 (")
    assert rows[2].endswith("| 0.5 (2/0) |")  # two pages only agentic solves
    assert rows[3].startswith("| observation | 1 | 100.0 | 100.0 | +0.0 (")
    assert len(rows) == 4  # none and the control itself get no row
    monkeypatch.setattr(miniwob_report, "all_records", lambda run: recs[:4])
    assert miniwob_report.control_table(Path("unused")) == []  # no control in the run


def test_miniwob_data_table_says_what_each_filter_removed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_report import data_table

    data = tmp_path / "data"
    data.mkdir()
    counts = {"raw_trajectories": 2, "raw_steps": 5, "examples_backward": 9,
              "failed_steps_cut": 3, "examples_with_failed_steps": 2, "dropped_all_failed": 1,
              "dropped_committee": 2, "examples_final": 6}  # fmt: skip
    report = {"counts": counts, "complete": False, "seconds": {"rollouts": 360}}
    state = {"tasks_done": 2, "tasks": [1, 2, 3], "report": report}
    (data / "llm.jsonl.state.json").write_text(json.dumps(state))
    (data / "llm.raw.jsonl").write_text('{"outcome": "success"}\n{"outcome": "failure"}\n')
    lines, cols = data_table(tmp_path)
    col = cols["llm"]
    assert col["tasks done"] == "2 of 3 (partial)"
    assert col["- steps BrowserGym rejected, cut (in examples)"] == "3 (2)"
    assert col["- examples left with no step"] == 1 and col["- rejected by the committee"] == 2
    assert col["rollouts that solved their MiniWoB task"] == "1 of 2"
    assert col["hours (synthesis wall time so far)"] == "0.10"
    assert lines[0] == "| | LLM (Algorithm 1) |"
    # a total that counted only the last of several processes never undercuts the stages
    for total, hours in ((100, "0.10"), (720, "0.20")):
        report["seconds"] = {"rollouts": 360, "total": total}
        (data / "llm.jsonl.state.json").write_text(json.dumps(state))
        assert data_table(tmp_path)[1]["llm"]["hours (synthesis wall time so far)"] == hours


def test_miniwob_suite_note_stage_tells_the_policy_how_a_bid_is_written(
    tmp_path: Path, monkeypatch
) -> None:
    """ablate-note's prompts: the packaged agent system message with the bid note after the
    action space, and the query writer's system message still the agent's own (one cached
    prefix); without the note no system template is overridden."""
    from argparse import Namespace

    from lbi_icl.agent.prompt import system_message
    from lbi_icl.envs import make_env
    from lbi_icl.prompts import load_prompts

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_suite import BID_NOTE, prompt_files, stages_of

    args = Namespace(out=tmp_path, layout="shared-prefix", action_subsets="bid")
    plain = dict(o.split("=", 1) for o in prompt_files(args)[1::2])
    noted = dict(o.split("=", 1) for o in prompt_files(args, note=True)[1::2])
    assert "agent_system" not in plain and "agent_system" in noted
    assert Path(noted["agent_system"]).parent.name == "prompts-note"
    env = make_env("miniwob", action_subsets=["bid"])
    try:
        action_space = env.action_space_text()
    finally:
        env.close()
    prompts = load_prompts(noted)
    system = system_message(action_space, "miniwob", prompts)
    assert system == prompts.render("query_system")
    assert system.index(BID_NOTE) > system.index("click(bid: str")
    assert BID_NOTE not in system_message(action_space, "miniwob", load_prompts(plain))
    assert stages_of("ablation") == ["ablate-expert", "ablate-llm", "ablate-note"]


def test_miniwob_report_pairs_the_note_run_with_the_same_strategies_without(
    tmp_path: Path, monkeypatch
) -> None:
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    import miniwob_report

    def rec(run: str, strategy: str, page: int, success: bool) -> SimpleNamespace:
        log = f"steps/{strategy}-{page}.jsonl"
        (tmp_path / run / "steps").mkdir(parents=True, exist_ok=True)
        step = {"observation": "page", "action": f'click("{page}")', "executed": True}
        (tmp_path / run / log).write_text(json.dumps(step) + "\n")
        return SimpleNamespace(strategy=strategy, task_id=f"click-tab/seed-{page}/rep-0", seed=0,
                               success=success, steps_log=log)  # fmt: skip

    runs = {
        "ablate-expert": {"none": [0, 0, 0], "agentic": [1, 1, 0], "random": [0, 1, 0]},
        "ablate-expert-note": {"none": [1, 1, 0], "agentic": [1, 1, 1]},
    }
    recs = {k: [rec(k, s, i, bool(w)) for s, ws in v.items() for i, w in enumerate(ws)]
            for k, v in runs.items()}  # fmt: skip
    monkeypatch.setattr(miniwob_report, "all_records", lambda run: recs.get(run.name, []))
    monkeypatch.setattr(
        miniwob_report, "ablation_table", lambda run, title: ([f"table of {run.name}"], [])
    )
    lines = miniwob_report.note_check(tmp_path)
    assert lines[2] == "table of ablate-expert-note"
    start = lines.index("The same strategies without and with the note, paired:") + 2
    pairs = lines[start : lines.index("", start)]
    assert pairs[0].startswith("| strategy | pairs | no note % | note % | note - no note")
    assert pairs[2].startswith("| agentic | 3 | 66.7 | 100.0 | +33.3 (")
    assert pairs[3].startswith("| none | 3 | 0.0 | 66.7 | +66.7 (")
    assert pairs[3].endswith("| 0.5 (2/0) |")
    assert len(pairs) == 4  # random ran without the note only
    # the four arms per task name, and the note run's episodes side by side
    assert "| click-tab | 3 | 0 | 2 | 2 | 3 |" in lines
    assert '| click-tab/seed-2/rep-0 (0) | ✗ `click("2")` | ✓ `click("2")` |' in lines
    monkeypatch.setattr(miniwob_report, "all_records", lambda run: [])
    assert miniwob_report.note_check(tmp_path) == []


def test_miniwob_diagnosis_counts_stuck_steps_and_successes_per_task(tmp_path: Path, monkeypatch):
    """A stuck step: the page unchanged after an action and the same action sent again; the
    table also says how often such a step was shown an example matched at a rollout's first
    step, beside the rate over all later steps."""
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_diagnosis import focus_only_steps, per_task_table, stuck_table

    first = {"kind": "example", "span": [0, 1], "matched_step": 0}
    later = {"kind": "example", "span": [1, 2], "matched_step": 0}
    (tmp_path / "steps").mkdir()

    def episode(strategy: str, name: str, steps: list[tuple[str, str, list]], ok: bool):
        log = f"steps/{strategy}-{name}.jsonl"
        lines = [json.dumps({"observation": o, "action": a, "retrieved": r}) for o, a, r in steps]
        (tmp_path / log).write_text("\n".join(lines) + "\n")
        return SimpleNamespace(strategy=strategy, task_id=f"{name}/seed-1/rep-0", seed=0,
                               success=ok, steps_log=log)  # fmt: skip

    recs = [
        # stuck twice on page A (both repeats shown a first-step example), then moves on
        episode(
            "agentic",
            "click-tab",
            [
                ("A", "c1", []),
                ("A", "c1", [first]),
                ("A", "c1", [first, later]),
                ("B", "c2", [later]),
            ],
            False,
        ),
        # the page unchanged but a different action: not a repeat
        episode("agentic", "click-link", [("A", "c1", []), ("A", "c2", [later])], True),
        episode("none", "click-tab", [("A", "c1", []), ("B", "c2", [])], True),
    ]
    missing = "steps/missing.jsonl"
    recs.append(SimpleNamespace(strategy="none", task_id="click-link/seed-1/rep-0", seed=0,
                                success=False, steps_log=missing))  # fmt: skip
    table = stuck_table(tmp_path, recs)
    # agentic: 4 later steps, 3 on an unchanged page, 2 repeats in 1 failed episode;
    # a first-step example at 2 of 4 later steps (50 %) and at 2 of 2 repeats (100 %)
    assert table[2] == "| agentic | 4 | 3 | 2 | 1 (1) | 50 | 100 |"
    assert table[3] == "| none | 1 | 0 | 0 | 0 (0) | – | – |"  # the missing log is skipped

    pairs = lambda s: {(r.task_id, r.seed): r for r in recs if r.strategy == s}  # noqa: E731
    per_task = per_task_table([("none", pairs("none")), ("agentic", pairs("agentic"))])
    assert per_task[2:] == ["| click-link | 1 | 0 | 1 |", "| click-tab | 1 | 1 | 0 |",
                            "| **all** | 2 | 1 | 1 |"]  # fmt: skip
    assert per_task_table([("none", pairs("none")), ("x", {})]) == []

    # raw rollouts: a later step equal to the one before up to `focused` looks alike to
    # observation matching; a real change does not
    page = "[12] button 'ONE'{}\n[13] button 'TWO'"
    rollouts = [
        {"id": "seq/seed-1/expert", "steps": [{"observation": page.format("")},
                                              {"observation": page.format(", focused")}]},
        {"id": "tab/seed-1/expert", "steps": [{"observation": "a"}, {"observation": "b"},
                                              {"observation": "b"}]},
    ]  # fmt: skip
    raw = tmp_path / "expert.raw.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in rollouts))
    assert focus_only_steps(raw) == (3, {"seq": 1, "tab": 1})
    assert focus_only_steps(tmp_path / "missing.jsonl") == (0, {})


def test_relabel_probe_counts_goal_copies_per_arm(tmp_path: Path, monkeypatch) -> None:
    """relabel_probe relabels each window twice (goal shown / hidden) and counts the
    instructions that are the page's goal verbatim, by whether the window solved the page."""
    from lbi_icl.data import Step, Trajectory
    from lbi_icl.llm import ScriptedLLM
    from lbi_icl.llm.base import Message

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from relabel_probe import goal_copies, relabel_all, sample, table

    def example(i: int, success: bool) -> Trajectory:
        obs = f"Goal: Click button {i}.\nURL: miniwob://x.html\nTitle: X\nAccessibility tree:\n"
        step = Step(observation=obs + f"[{i}] button", action=f'click("{i}")',
                    info={"success": success})  # fmt: skip
        return Trajectory(id=f"e{i}", env="miniwob", instruction=f"Click button {i}.",
                          steps=[step], final_observation=obs,
                          source={"instruction_kind": "abstract"})  # fmt: skip

    data = tmp_path / "d.jsonl"
    rows = [example(1, True), example(2, False), example(3, False)]
    summary = rows[0].model_copy(update={"id": "s", "source": {"instruction_kind": "summarize"}})
    data.write_text("\n".join(t.model_dump_json() for t in [*rows, summary]) + "\n")
    windows = sample(data, 10, seed=0)
    assert sorted(w.id for w in windows) == ["e1", "e2", "e3"]

    def reply(messages: list[Message]) -> str:  # copies the goal when it sees one
        text = str(messages[-1].content)
        return text.split("Goal: ", 1)[1].split(" URL:", 1)[0] if "Goal: " in text else "Click."

    out = relabel_all(sorted(windows, key=lambda w: w.id), ScriptedLLM(reply))
    assert [r["goal shown (before)"] for r in out] == [f"Click button {i}." for i in (1, 2, 3)]
    assert {r["goal hidden (now)"] for r in out} == {"Click."}
    lines = table(out)
    assert lines[2] == "| goal shown (before) | 3 | 3 | 2 |"
    assert lines[3] == "| goal hidden (now) | 3 | 0 | 0 |"
    # over the whole dataset (the report's data table): abstract examples, goal copies (up
    # to case and a final period), of them unsolved; the summary is not abstract
    own = rows[0].model_copy(update={"id": "e4", "instruction": "Click the OK button"})
    lower = rows[2].model_copy(update={"id": "e5", "instruction": "click button 3"})
    data.write_text("\n".join(t.model_dump_json() for t in [*rows, summary, own, lower]) + "\n")
    assert goal_copies(data) == (5, 4, 3)
    assert goal_copies(tmp_path / "missing.jsonl") == (0, 0, 0)


def test_miniwob_suite_keeps_llm_variants_beside_the_first(tmp_path: Path, monkeypatch) -> None:
    """`--llm-name` variants are found by their state files: progress reports them and the
    report pairs each with the expert index and with the first LLM index."""
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    import miniwob_report
    from common import llm_names
    from miniwob_suite import progress

    data = tmp_path / "data"
    data.mkdir()
    assert llm_names(tmp_path) == []
    report = {"counts": {}, "complete": True}
    for name in ("expert", "llm-b", "llm"):
        state = {"tasks_done": 1, "tasks": [1], "report": report}
        (data / f"{name}.jsonl.state.json").write_text(json.dumps(state))
    assert llm_names(tmp_path) == ["llm", "llm-b"]
    assert {"data-expert", "data-llm", "data-llm-b"} <= set(progress(tmp_path))

    def recs(run: Path) -> list[SimpleNamespace]:
        win = {"ablate-expert": 0, "ablate-llm": 1, "ablate-llm-b": 1}[run.name]
        return [SimpleNamespace(strategy="agentic", task_id="click-tab/seed-1/rep-0", seed=0,
                                success=bool(win))]  # fmt: skip

    monkeypatch.setattr(miniwob_report, "all_records", recs)
    headers = [ln for ln in miniwob_report.cross_index(tmp_path) if ln.startswith("| strategy")]
    assert [h.split(" | ")[2:4] for h in headers] == [
        ["expert index %", "llm index %"],
        ["expert index %", "llm-b index %"],
        ["llm index %", "llm-b index %"],
    ]
    lines, _ = miniwob_report.data_table(tmp_path)
    assert lines[0] == (
        "| | expert (scripted solvers, offline relabeler) | LLM (Algorithm 1) | "
        "LLM, variant `llm-b` |"
    )


def test_miniwob_suite_llm_name_routes_data_index_and_ablation(tmp_path: Path, monkeypatch):
    import argparse
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    import miniwob_suite

    p = argparse.ArgumentParser()
    miniwob_suite.add_args(p)
    args = p.parse_args(["--llm-name", "llm-b", "--mw-strategies", "none,agentic"])
    args.out, args.ctx, args.retry_errors = tmp_path, 4096, False
    srv = SimpleNamespace(spec="openai:m", base_url="http://127.0.0.1:1/v1")
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(miniwob_suite, "lbi", lambda *a: calls.append(a))
    miniwob_suite.stage_data_llm(args, srv)  # type: ignore[arg-type]
    synth, build = calls
    assert synth[synth.index("--out") + 1] == str(tmp_path / "data" / "llm-b.jsonl")
    assert build[build.index("--out") + 1] == str(tmp_path / "index-llm-b")
    ran: list[list[str]] = []

    def run(cmd: list[str], check: bool) -> SimpleNamespace:
        ran.append(cmd)
        return SimpleNamespace(returncode=0)

    monkeypatch.setattr(miniwob_suite.subprocess, "run", run)
    (tmp_path / "index-llm-b").mkdir()
    (tmp_path / "index-llm-b" / "manifest.json").write_text("{}")
    miniwob_suite.stage_ablation(args, srv, args.llm_name)  # type: ignore[arg-type]
    cmd = ran[0]
    assert cmd[cmd.index("--out") + 1] == str(tmp_path / "ablate-llm-b")
    assert cmd[cmd.index("--strategies") + 1] == "none,agentic"  # no controls off expert


def test_miniwob_report_says_what_each_strategy_was_shown(tmp_path: Path, monkeypatch) -> None:
    """The 'what the agent was shown' table reads each step's retrieved examples from the
    step logs and looks each up in the index (its task) and the raw rollouts (solved?)."""
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_retrieved import example_sources, retrieved_table

    index, raw, run = tmp_path / "index-llm", tmp_path / "llm.raw.jsonl", tmp_path / "run"
    index.mkdir()
    (run / "steps").mkdir(parents=True)
    rollouts = {"click-tab/seed-1000#si0/llm": "success", "enter-text/seed-1000#si1/llm": "unknown"}
    raw.write_text("".join(json.dumps({"id": i, "outcome": o}) + "\n" for i, o in rollouts.items()))
    examples = [(f"{parent}/w0-1/abstract", parent) for parent in rollouts]
    index.joinpath("examples.jsonl").write_text(
        "".join(json.dumps({"id": i, "source": {"parent_id": p}}) + "\n" for i, p in examples)
    )
    tab_ex, text_ex = examples[0][0], examples[1][0]

    def episode(name: str, shown: list[list[str]], success: bool) -> SimpleNamespace:
        steps = [{"retrieved": [{"id": i, "kind": "example"} for i in ids]} for ids in shown]
        steps[0]["retrieved"].append({"id": "doc-1", "kind": "doc"})  # not an example
        (run / "steps" / f"{name}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
        return SimpleNamespace(strategy="agentic", task_id=f"{name}/seed-1/rep-0", seed=0,
                               success=success, steps_log=f"steps/{name}.jsonl")  # fmt: skip

    recs = [
        episode("click-tab", [[tab_ex, text_ex], [text_ex]], True),  # step 0 shows its task
        episode("click-link", [[tab_ex], [tab_ex, text_ex]], False),  # never shows its task
        SimpleNamespace(strategy="none", task_id="click-tab/seed-1/rep-0", seed=0, success=False),
    ]
    sources = example_sources(index, raw)
    assert sources == {tab_ex: ("click-tab", True), text_ex: ("enter-text", False)}
    lines = retrieved_table(run, recs, sources)
    assert len(lines) == 3  # `none` retrieves nothing and gets no row
    # 4 steps, 6 examples; 1 of 6 from the episode's own task; 3 of 6 from a solved rollout
    assert lines[2] == "| agentic | 4 | 1.5 | 17 | 50 | 100 % (1/1) | 0 % (0/1) |"
    assert retrieved_table(run, recs[2:], sources) == []


def test_miniwob_report_load_label_is_not_set_by_one_burst(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))
    from miniwob_report import load_range

    assert load_range(tmp_path) == "unknown"
    loads = [2.0] * 18 + [3.0, 51.0]
    lines = [json.dumps({"load": f"{x}/2.0/2.0"}) for x in loads] + ["{}", "not json"]  # skipped
    (tmp_path / "progress.jsonl").write_text("\n".join(lines))
    assert load_range(tmp_path) == "median 2.0, 90th percentile 2.0, max 51.0"
