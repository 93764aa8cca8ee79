"""Synthesis pipeline: window counting, filters, the LLM path with a scripted model, and the
offline BabyAI run (hindsight relabels achieved on replay, determinism, kill + resume)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lbi_icl.cli import main
from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.data.jsonl import read_trajectories
from lbi_icl.envs.base import StepResult
from lbi_icl.llm import ScriptedLLM
from lbi_icl.llm.base import Message
from lbi_icl.synth import (
    SynthConfig,
    SynthConflictError,
    WindowInstruction,
    all_windows,
    count_windows,
    drop_repeated_steps,
    parse_judgement,
    paths_for,
    select_windows,
    synthesize,
)
from lbi_icl.synth import relabelers as relabelers_mod
from lbi_icl.synth.filters import Committee
from lbi_icl.synth.self_instruct import parse_task_lines

SMALL_LEVELS = ["BabyAI-GoToRedBallGrey-v0", "BabyAI-PickupLoc-v0", "BabyAI-OpenRedDoor-v0"]


# -- a tiny deterministic env + relabeler for counting ---------------------------------


class LineEnv:
    """Walk right along a line; the expert walks `length` steps."""

    name = "linewalk"

    def __init__(self, length: int = 7):
        self.length, self.pos = length, 0

    def tasks(self, split: str) -> list[Task]:
        return [
            Task(id=f"line-{i}", env=self.name, instruction="walk", split=split) for i in range(3)
        ]

    def reset(self, task: Task) -> str:
        self.pos = 0
        return "at 0"

    def step(self, action: str) -> StepResult:
        self.pos += 1 if action == "right" else 0
        done = self.pos >= self.length
        return StepResult(observation=f"at {self.pos}", done=done, info={"success": done})

    def action_space_text(self) -> str:
        return "right | wait"

    def valid_actions(self) -> list[str]:
        return ["right", "wait"]

    def documents(self) -> list[Document]:
        return [Document(id="d0", env=self.name, title="Line", text="A line you walk along.")]

    def demonstrate(self, task: Task, *, max_steps: int = 100) -> Trajectory | None:
        obs, steps = self.reset(task), []
        for _ in range(min(self.length, max_steps)):
            r = self.step("right")
            steps.append(Step(observation=obs, action="right", info=r.info))
            obs = r.observation
        return Trajectory(
            id=f"{task.id}/expert",
            env=self.name,
            instruction=task.instruction,
            steps=steps,
            final_observation=obs,
            outcome="success",
            source={"kind": "expert"},
        )

    def close(self) -> None:
        pass


class SpanRelabeler:
    """One abstract instruction naming the span: every window survives, all distinct."""

    name = "span-writer"

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        return [
            WindowInstruction(instruction=f"walk {start}->{end}", kind="abstract", writer=self.name)
        ]


def make_relabeler() -> SpanRelabeler:
    return SpanRelabeler()


@pytest.fixture
def linewalk(monkeypatch):
    monkeypatch.setitem(relabelers_mod.BUILTIN_RELABELERS, "linewalk", __name__)


# -- backward construction: windows ---------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 5, 9])
@pytest.mark.parametrize(("lo", "hi"), [(1, None), (1, 3), (2, 4), (3, 3), (4, 100)])
def test_window_counts(n, lo, hi):
    windows = all_windows(n, lo, hi)
    brute = [(s, e) for s in range(n) for e in range(s + 1, n + 1) if lo <= e - s <= (hi or n)]
    assert windows == brute
    assert len(windows) == count_windows(n, lo, hi)
    if n == 5 and (lo, hi) == (1, None):
        assert len(windows) == 15  # n(n+1)/2


def test_select_windows_cap_is_reproducible():
    a = select_windows(20, min_len=1, max_len=None, cap=30, seed=7)
    assert a == select_windows(20, min_len=1, max_len=None, cap=30, seed=7)
    assert a != select_windows(20, min_len=1, max_len=None, cap=30, seed=8)
    assert len(a) == 30 == len(set(a)) and a == sorted(a)
    assert set(a) <= set(all_windows(20))
    assert select_windows(4, min_len=1, max_len=None, cap=30, seed=7) == all_windows(4)


def test_pipeline_writes_exactly_the_configured_windows(tmp_path, linewalk):
    cfg = SynthConfig(
        env="linewalk",
        tasks=2,
        explorers=["expert"],
        window_min=2,
        window_max=4,
        windows_per_trajectory=None,
        kinds=["abstract"],
        dedup=False,
        env_check=True,
    )
    report = synthesize(cfg, tmp_path / "w.jsonl", env=LineEnv(length=7))
    per_traj = count_windows(7, 2, 4)  # 6 + 5 + 4
    assert per_traj == 15
    c = report.counts
    assert c["raw_trajectories"] == 2 and c["windows"] == c["examples_backward"] == 2 * per_traj
    assert c["examples_final"] == 2 * per_traj and c["documents"] == 1
    examples = list(read_trajectories(tmp_path / "w.jsonl"))
    spans = sorted(
        tuple(e.source["span"]) for e in examples if e.source["parent_id"] == "line-0/expert"
    )
    assert spans == all_windows(7, 2, 4)
    ex = next(e for e in examples if e.source["span"] == [2, 5])
    assert [s.observation for s in ex.steps] == ["at 2", "at 3", "at 4"]
    assert ex.final_observation == "at 5" and ex.source["writer"] == "span-writer"
    assert ex.source["kind"] == "backward" and ex.source["instruction_kind"] == "abstract"
    assert ex.metadata["task_id"] == "line-0" and report.stages["env_check"] is None


# -- filters -----------------------------------------------------------------------------


def _traj(pairs: list[tuple[str, str]]) -> Trajectory:
    return Trajectory(
        id="t",
        env="e",
        instruction="i",
        steps=[Step(observation=o, action=a) for a, o in pairs],
        final_observation="end",
    )


def test_repeat_step_filter():
    t = _traj(
        [("l", "o1"), ("f", "o2"), ("f", "o2"), ("f", "o2"), ("p", "o2"), ("f", "o2"), ("l", "o1")]
    )
    out, dropped = drop_repeated_steps(t)
    assert dropped == 2
    assert [(s.action, s.observation) for s in out.steps] == [
        ("l", "o1"),
        ("f", "o2"),
        ("p", "o2"),
        ("f", "o2"),
        ("l", "o1"),
    ]
    assert out.source["repeat_steps_dropped"] == 2
    same, zero = drop_repeated_steps(_traj([("a", "x"), ("a", "y"), ("b", "y")]))
    assert zero == 0 and len(same.steps) == 3


def test_parse_judgement():
    yes = {"aligned": True, "coherent": True, "natural": True, "reasonable": True}
    assert parse_judgement(json.dumps(yes)) == yes
    assert (
        parse_judgement(
            'Sure.\n{"aligned": true, "coherent": "yes", "natural": true, "reasonable": false}'
        )["reasonable"]
        is False
    )
    assert (
        parse_judgement("aligned: yes\ncoherent: yes\nnatural: no\nreasonable: yes")["natural"]
        is False
    )
    assert parse_judgement('{"aligned": true}') is None
    assert parse_judgement("looks good to me") is None


def test_committee_is_unanimous():
    ex = _traj([("a", "x")])
    all_yes = '{"aligned": true, "coherent": true, "natural": true, "reasonable": true}'
    one_no = '{"aligned": true, "coherent": true, "natural": false, "reasonable": true}'
    assert Committee([ScriptedLLM([all_yes]), ScriptedLLM([all_yes])]).judge(ex).keep
    v = Committee([ScriptedLLM([all_yes]), ScriptedLLM([one_no])]).judge(ex)
    assert not v.keep and len(v.votes) == 2
    assert not Committee([ScriptedLLM(["no idea"])]).judge(ex).keep


def test_parse_task_lines():
    text = "Here are tasks:\n1. Go to the red ball\n- pick up a key\n\n3) open the door\n4. extra"
    assert parse_task_lines(text, 3) == ["Go to the red ball", "pick up a key", "open the door"]


# -- the LLM path, scripted ---------------------------------------------------------------


def _scripted_brain(messages: list[Message]) -> str:
    prompt = messages[-1].content
    if "different tasks" in prompt:
        return "1. go to the red ball\n2. open the red door\n3. pick up the closest object"
    if "What is your next action?" in prompt:
        n = prompt.count("->")  # history length
        return f"I should explore.\nAction: {['turn left', 'go forward', 'turn right'][n % 3]}"
    if "Write that instruction" in prompt:
        return "Instruction: look around the room"
    if "numbered list" in prompt:
        return "1. turned\n2. moved forward"
    if "Judge the example" in prompt:
        natural = "look around" in prompt  # the committee rejects every summary
        return json.dumps(
            {"aligned": True, "coherent": True, "natural": natural, "reasonable": True}
        )
    raise AssertionError(f"unexpected prompt: {prompt[:200]}")


@pytest.mark.babyai
def test_llm_path_with_scripted_model(tmp_path):
    llm = ScriptedLLM(_scripted_brain, name="brain")
    judge = ScriptedLLM(_scripted_brain, name="judge")
    cfg = SynthConfig(
        env="babyai",
        env_options={"levels": SMALL_LEVELS},
        tasks=2,
        task_source="self_instruct",
        explorers=["llm"],
        writer="llm",
        committee=["scripted:judge"],
        max_steps=3,
        window_max=2,
        llm="scripted:brain",
        failed_filter=False,  # every window reaches the committee (no-op moves stay)
    )
    out = tmp_path / "llm.jsonl"
    report = synthesize(cfg, out, llm=llm, committee=[judge])
    c = report.counts
    assert c["tasks"] == 2 and c["raw_trajectories"] == 2 and c["raw_steps"] == 6
    assert c["windows"] == 2 * count_windows(3, 1, 2)
    assert c["examples_backward"] == 2 * c["windows"]  # abstract + summarize per window
    assert c["dropped_committee"] == c["windows"]  # every summary rejected
    assert report.by_kind == {"abstract": c["examples_final"]}
    assert report.llm_calls > 0 and report.stages["writer"] == "llm:scripted:brain"
    raws = list(read_trajectories(paths_for(out)["raw"]))
    assert [r.instruction for r in raws] == ["go to the red ball", "open the red door"]
    assert (
        raws[0].steps[0].thought == "I should explore." and raws[0].steps[1].action == "go forward"
    )
    assert raws[0].metadata["self_instruct"]["document_id"] == "babyai/doc-0"
    examples = list(read_trajectories(out))
    assert examples and all(e.instruction == "look around the room" for e in examples)
    assert all(e.source["writer"] == "llm:scripted:brain" for e in examples)
    votes = examples[0].source["committee"]
    assert list(votes) == ["0:scripted:judge"] and all(votes["0:scripted:judge"].values())


def test_llm_stages_need_an_llm(tmp_path, linewalk):
    cfg = SynthConfig(env="linewalk", tasks=1, writer="llm")
    with pytest.raises(ValueError, match="needs an LLM"):
        synthesize(cfg, tmp_path / "x.jsonl", env=LineEnv())


# -- offline BabyAI ---------------------------------------------------------------------


@pytest.mark.babyai
def test_hindsight_instructions_are_achieved_when_replayed():
    """Replay each window's prefix in a fresh level, install the relabeled instruction as
    the level's own mission, and let minigrid's step() say when it is achieved."""
    from lbi_icl.envs.babyai import BabyAIEnv, make_level, replay
    from lbi_icl.envs.babyai_text import parse_action
    from lbi_icl.synth.check_babyai import BabyAIWindowChecker, build_instr
    from lbi_icl.synth.relabel_babyai import BabyAIHindsightRelabeler

    env = BabyAIEnv(levels=[*SMALL_LEVELS, "BabyAI-PutNextLocal-v0"], tasks_per_level=1)
    relabeler, checker = BabyAIHindsightRelabeler(kinds=["abstract"]), BabyAIWindowChecker()
    tested = kept = 0
    kinds: set[str] = set()
    try:
        parents = []
        for i, task in enumerate(env.tasks("train")):
            parents.append(env.demonstrate(task))
            parents.append(env.demonstrate_noisy(task, epsilon=0.3, seed=i))
        for parent in filter(None, parents):
            actions = [parse_action(s.action) for s in parent.steps]
            level_env = make_level(parent.metadata["level"])
            for start, end in all_windows(len(parent.steps), 1, 8):
                for wi in relabeler.relabel(parent, start, end):
                    g = replay(
                        parent.metadata["level"],
                        parent.metadata["seed"],
                        actions[:start],
                        level_env,
                    )
                    if g.carrying is not None:
                        continue  # minigrid's verifier cannot express 'already holding it'
                    instr = build_instr(wi.goal)
                    assert instr.surface(g) == wi.instruction  # BabyAI's own wording
                    g.instrs = instr
                    instr.reset_verifier(g)
                    achieved_at = None
                    for k, a in enumerate(actions[start:end]):
                        _, reward, terminated, _, _ = g.step(a)
                        if terminated and reward > 0:
                            achieved_at = k
                            break
                    assert achieved_at is not None, (parent.id, start, end, wi.instruction)
                    tested += 1
                    kinds.add(wi.goal["kind"])
                    # the env check keeps exactly the windows achieved on their last action
                    ok = checker.check(parent, start, end, wi)
                    assert ok == (achieved_at == end - start - 1)
                    kept += ok
    finally:
        env.close()
    assert tested > 20 and kept > tested // 2
    assert {"goto", "pickup", "open", "put_next"} <= kinds


def _run_cli(out: Path, *extra: str) -> int:
    return main(
        [
            "synthesize",
            "--env",
            "babyai",
            "--out",
            str(out),
            "--no-progress",
            "--env-option",
            json.dumps(SMALL_LEVELS).join(["levels=", ""]),
            *extra,
        ]
    )


@pytest.mark.babyai
def test_offline_babyai_is_deterministic_and_reported(tmp_path, capsys):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert _run_cli(a, "--tasks", "4") == 0
    table = capsys.readouterr().out
    assert "examples after backward construction" in table and "raw trajectories" in table
    assert _run_cli(b, "--tasks", "4") == 0
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0
    assert _run_cli(c, "--tasks", "4", "--seed", "1") == 0
    assert a.read_bytes() != c.read_bytes()
    report = json.loads(paths_for(a)["report"].read_text())
    counts = report["counts"]
    assert report["complete"] and counts["tasks"] == 4 and counts["raw_trajectories"] == 8
    assert counts["examples_final"] == sum(1 for _ in read_trajectories(a))
    assert counts["examples_backward"] == (
        counts["examples_final"]
        + counts["dropped_env_check"]
        + counts["dropped_committee"]
        + counts["dropped_duplicates"]
    )
    examples = list(read_trajectories(a))
    assert {e.source["instruction_kind"] for e in examples} == {"abstract", "summarize"}
    assert all(e.source["writer"] == "hindsight-babyai" for e in examples)
    assert len({e.id for e in examples}) == len(examples)
    summary = next(e for e in examples if e.source["instruction_kind"] == "summarize")
    assert summary.instruction.startswith("Replicate the following: ")
    # rerunning a finished synthesis changes nothing; another config is refused
    before = a.read_bytes()
    assert _run_cli(a, "--tasks", "4") == 0 and a.read_bytes() == before
    assert _run_cli(a, "--tasks", "5") == 1
    assert "different configuration (tasks: 4 → 5;" in capsys.readouterr().err


@pytest.mark.babyai
def test_killed_and_resumed_run_gives_the_same_file(tmp_path):
    args = ["--tasks", "12", "--explorers", "expert,noisy_expert,random", "--max-steps", "15"]
    clean = tmp_path / "clean.jsonl"
    assert _run_cli(clean, *args) == 0
    out = tmp_path / "killed.jsonl"
    state = paths_for(out)["state"]
    cmd = [
        sys.executable,
        "-m",
        "lbi_icl",
        "synthesize",
        "--env",
        "babyai",
        "--out",
        str(out),
        "--no-progress",
        "--env-option",
        json.dumps(SMALL_LEVELS).join(["levels=", ""]),
        *args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists():
                try:
                    done = json.loads(state.read_text())["tasks_done"]
                except (ValueError, KeyError):
                    done = 0
                if done >= 3:
                    break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = json.loads(state.read_text())
    assert 3 <= killed_at["tasks_done"] < 12 and not killed_at["report"]["complete"]
    killed_wall = killed_at["report"]["seconds"]["total"]  # saved with every task
    assert killed_wall > 0
    with open(out, "a", encoding="utf-8") as fh:  # a record torn by the kill
        fh.write('{"id": "torn')
    assert _run_cli(out, *args) == 0
    assert out.read_bytes() == clean.read_bytes()
    assert paths_for(out)["raw"].read_bytes() == paths_for(clean)["raw"].read_bytes()
    r1 = json.loads(paths_for(clean)["report"].read_text())
    r2 = json.loads(paths_for(out)["report"].read_text())
    assert r1["counts"] == r2["counts"]
    assert r2["seconds"]["total"] > killed_wall  # the killed run's time still counts


def test_refuses_foreign_output(tmp_path, linewalk):
    out = tmp_path / "x.jsonl"
    out.write_text('{"not": "ours"}\n')
    cfg = SynthConfig(env="linewalk", tasks=1, explorers=["expert"])
    with pytest.raises(SynthConflictError, match="no state file"):
        synthesize(cfg, out, env=LineEnv())
    report = synthesize(cfg, out, env=LineEnv(), overwrite=True)
    assert report.complete and out.read_text().count("\n") == report.counts["examples_final"]


@pytest.mark.parametrize("side", ["raw", "docs", "report"])
def test_side_files_are_outputs_too(tmp_path, linewalk, side):
    """A new synthesis never replaces a file beside its --out that it did not make."""
    out = tmp_path / "n.jsonl"
    theirs = paths_for(out)[side]
    theirs.write_text("somebody's file\n")
    cfg = SynthConfig(env="linewalk", tasks=1, explorers=["expert"])
    with pytest.raises(SynthConflictError, match=f"{theirs.name} already exists"):
        synthesize(cfg, out, env=LineEnv())
    assert theirs.read_text() == "somebody's file\n" and not out.exists()
