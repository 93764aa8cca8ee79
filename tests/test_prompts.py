"""Prompt templates (lbi_icl/prompts): the packaged defaults of the `examples_first` layout
render byte for byte the prompts the code sent before they were templates, the
`stable_first` layout (the default) the same sections with the objective first, and user
files are checked before use.

`fixtures/prompts/golden.json` was captured from the pre-template code (commit 5fc8e1f) with
the inputs built in `_render_all` below, so an `examples_first` default that drifts by one
byte fails here (that keeps the LLM response caches and recorded real-LLM numbers valid).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lbi_icl.agent.base import AgentConfig
from lbi_icl.agent.prompt import HistoryEntry, render_messages, render_prompt
from lbi_icl.data import Document, Step, Task, Trajectory
from lbi_icl.envs.base import StepResult
from lbi_icl.envs.swe.taskset.statement import llm_statement
from lbi_icl.llm.base import LLMResponse, Message
from lbi_icl.prompts import (
    PROMPTS,
    PromptError,
    default_prompts,
    default_template,
    load_prompts,
    load_template,
)
from lbi_icl.prompts.specs import LAYOUT_FILES
from lbi_icl.retrieval.base import StepContext
from lbi_icl.retrieval.model import query_messages
from lbi_icl.synth.backward import LLMRelabeler
from lbi_icl.synth.filters import Committee
from lbi_icl.synth.prompts import self_instruct_messages
from lbi_icl.synth.rollout import rollout_llm

GOLDEN = Path(__file__).parent / "fixtures" / "prompts" / "golden.json"


def _dump(msgs: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in msgs]


class _Recorder:
    spec = "rec:x"

    def __init__(self, answers: list[str]):
        self.answers = list(answers)
        self.calls: list[list[dict[str, str]]] = []

    def complete(self, messages: list[Message], params: Any = None) -> LLMResponse:
        self.calls.append(_dump(messages))
        text = self.answers.pop(0) if self.answers else "done"
        return LLMResponse(text=text, model="m", backend="rec")


class _FakeEnv:
    name = "fake"

    def __init__(self) -> None:
        self.t = 0

    def action_space_text(self) -> str:
        return "Actions: left, right {x}"

    def reset(self, task: Task) -> str:
        self.t = 0
        return "start observation"

    def step(self, action: str) -> StepResult:
        self.t += 1
        obs = f"obs after {action} " + "z" * 200
        return StepResult(observation=obs, reward=0.0, done=self.t >= 3)


def _render_all(prompts: Any = None, layout: str = "examples_first") -> dict[str, Any]:
    """Every prompt of the library for fixed inputs ($, {} and long texts included); the
    agent's in prompt layout `layout`."""
    out: dict[str, Any] = {}
    hist = [
        HistoryEntry(
            step=i, observation=f"obs {i} " + "x" * (30 if i == 5 else 3), action=f"act {i}"
        )
        for i in range(7)
    ]
    cfg = AgentConfig(
        history_steps=3,
        observation_chars=20,
        current_observation_chars=40,
        list_valid_actions=5,
        prompt_layout=layout,  # type: ignore[arg-type]
    )
    common = {"prompts": prompts}
    out["agent_full"] = _dump(
        render_messages(
            action_space_text="  Actions: a, b, c $1 {x}\n",
            instruction=" go to the {red} ball $HOME ",
            observation="You see a wall " + "y" * 50,
            history=hist,
            reference="\nExamples of similar situations:\n\nExample 1 ...\n",
            config=cfg,
            env_name="babyai",
            valid_actions=["turn left", "go forward"],
            **common,
        )
    )
    small = {"action_space_text": "Act.", "instruction": "do it", "observation": "start"}
    out["agent_minimal"] = _dump(
        render_messages(
            **small,
            history=[],
            reference="   ",
            config=AgentConfig(prompt_layout=layout),  # type: ignore[arg-type]
            env_name=None,
            valid_actions=["a"],
            **common,
        )
    )
    out["agent_one_hidden"] = _dump(
        render_messages(
            **small,
            history=hist[:2],
            reference="",
            config=AgentConfig(history_steps=1, prompt_layout=layout),  # type: ignore[arg-type]
            env_name="swe",
            valid_actions=None,
            **common,
        )
    )
    out["agent_no_history_steps"] = _dump(
        render_messages(
            **small,
            history=hist[:2],
            reference="ref",
            config=AgentConfig(history_steps=0, prompt_layout=layout),  # type: ignore[arg-type]
            env_name="swe",
            valid_actions=None,
            **common,
        )
    )
    steps = [Step(observation="o1 long words here", action="a1")] + [
        Step(observation=f"o{i}", action=f"a{i}") for i in (2, 3, 4)
    ]
    ctx = StepContext(
        instruction="find the key {k}",
        observation="one two three four five",
        history=steps,
        step=4,
        task_id="t",
        env="babyai",
    )
    out["query_full"] = _dump(query_messages(ctx, 3, 2, prompts))
    empty = StepContext(instruction="i", observation="o", history=[], step=0, task_id="t", env="e")
    out["query_empty"] = _dump(query_messages(empty, 0, None, prompts))
    doc = Document(id="d1", env="babyai", title="Doors", text="Doors can be {locked}.  " * 3)
    out["self_instruct"] = _dump(self_instruct_messages("babyai", doc, 4, prompts))
    traj = Trajectory(
        id="p1", env="babyai", instruction="go {there}", steps=steps, final_observation="final obs"
    )
    for key, (start, end) in {"relabel": (1, 3), "relabel_end": (2, 4)}.items():
        rec = _Recorder([])
        LLMRelabeler(rec, prompts=prompts).relabel(traj, start, end)  # type: ignore[arg-type]
        out[key] = rec.calls
    verdict = '{"aligned": true, "coherent": true, "natural": true, "reasonable": true}'
    rec = _Recorder([verdict])
    Committee([rec], prompts=prompts).judge(traj)  # type: ignore[list-item]
    out["committee"] = rec.calls
    rec = _Recorder(["Issue title\n\nbody"])
    failing = [f"tests/test_a.py::t{i}" for i in range(8)]
    msgs = {"tests/test_a.py::t1": "AssertionError: 1 != 2 " * 30}
    llm_statement(rec, "calc", failing, msgs, prompts)  # type: ignore[arg-type]
    out["statement"] = rec.calls
    rec = _Recorder(["think\nAction: left", "Action: right", "Action: left"])
    task = Task(id="t1", env="fake", instruction="move {around}")
    rollout_llm(
        _FakeEnv(),
        task,
        "u",
        rec,
        seed=0,
        max_steps=3,
        history_steps=2,
        prompts=prompts,  # type: ignore[arg-type]
    )
    out["rollout"] = rec.calls
    return out


def test_examples_first_renders_the_pre_template_prompts_byte_for_byte() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = _render_all()
    assert sorted(now) == sorted(golden)
    for key in golden:
        assert now[key] == golden[key], key


def _objective_first(user: str) -> str:
    """A paper-layout user message with its reference section moved after the objective."""
    if not user.startswith("## Additional information for reference\n"):
        return user
    reference, rest = user.split("## Objective\n", 1)
    instruction, tail = rest.split("\n\n## Interaction history\n", 1)
    return f"## Objective\n{instruction}\n\n{reference}## Interaction history\n{tail}"


def test_stable_first_is_the_paper_prompt_with_the_objective_first() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = _render_all(layout="stable_first")
    assert sorted(now) == sorted(golden)
    moved = 0
    for key in golden:
        if not key.startswith("agent_"):  # only the agent's user message has layouts
            assert now[key] == golden[key], key
            continue
        (sys_old, user_old), (sys_new, user_new) = golden[key], now[key]
        assert sys_new == sys_old, key
        assert user_new["content"] == _objective_first(user_old["content"]), key
        moved += user_new["content"] != user_old["content"]
    assert moved == 2  # agent_full, agent_no_history_steps: the two with a reference
    assert _render_all() == _render_all(default_prompts().with_layout("examples_first"))
    # the default layout is stable_first (and a PromptSet's layout follows the config's)
    default = render_prompt(
        action_space_text="Act.",
        instruction="do it",
        observation="start",
        history=[],
        reference="Example 1 x",
        config=AgentConfig(),
    )
    assert default.messages[1].content.startswith("## Objective\ndo it\n\n## Additional")
    assert default_prompts()["agent_user"].sha256 == default_template("agent_user").sha256
    assert default_template("agent_user", "examples_first").text.startswith(
        "${reference_section}## Objective"
    )


def test_user_agent_user_file_wins_over_the_layout(tmp_path: Path) -> None:
    f = tmp_path / "user.txt"
    f.write_text("MINE $instruction\n$reference_section$observation\n", encoding="utf-8")
    prompts = load_prompts({"agent_user": f})
    assert prompts.layout_name() == "custom"
    texts = {
        render_prompt(
            action_space_text="Act.",
            instruction="do it",
            observation="start",
            history=[],
            reference="Example 1 x",
            config=AgentConfig(prompt_layout=layout),  # type: ignore[arg-type]
            prompts=prompts,
        )
        .messages[1]
        .content
        for layout in ("stable_first", "examples_first")
    }
    assert texts == {"MINE do it\n## Additional information for reference\nExample 1 x\n\nstart"}
    assert load_prompts(layout="examples_first").layout_name() == "examples_first"
    with pytest.raises(PromptError, match="no prompt layout 'sideways'"):
        load_prompts(layout="sideways")  # type: ignore[arg-type]


def test_every_prompt_has_a_checked_default() -> None:
    for name, spec in PROMPTS.items():
        t = default_template(name)
        assert t.source == "default" and len(t.sha256) == 64
        # a default uses no variable its spec does not declare (checked on load) and
        # renders with exactly the declared ones
        t.render(**dict.fromkeys(spec.variables, "X"))


def test_user_template_replaces_one_prompt_only(tmp_path: Path) -> None:
    f = tmp_path / "sys.txt"
    f.write_text("Custom system for $env: $action_space\nCost: $$5\n", encoding="utf-8")
    prompts = load_prompts({"agent_system": f})
    rendered = render_prompt(
        action_space_text="Act.",
        instruction="do it",
        observation="start",
        history=[],
        reference="",
        config=AgentConfig(),
        env_name="babyai",
        prompts=prompts,
    )
    assert rendered.messages[0].content == "Custom system for babyai: Act.\nCost: $5"
    default = render_prompt(
        action_space_text="Act.",
        instruction="do it",
        observation="start",
        history=[],
        reference="",
        config=AgentConfig(),
        env_name="babyai",
    )
    assert rendered.messages[1] == default.messages[1]
    assert prompts["agent_system"].sha256 != default_prompts()["agent_system"].sha256
    assert prompts.describe(["agent_system"])["agent_system"]["source"] == str(f)
    assert rendered.templates == (
        "agent_answer_format",
        "agent_system",
        "agent_user",
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("agent_system", "Hello $nosuch\n", "uses $nosuch, which does not exist"),
        ("agent_user", "line one\nprice $5\n", ":2: prompt 'agent_user': a '$' that starts no"),
        ("query_user", "${instruction\n", ":1: prompt 'query_user': a '$' that starts no"),
    ],
)
def test_bad_template_names_file_and_variable(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PromptError) as e:
        load_template(name, f)
    assert str(f) in str(e.value) and expected in str(e.value)


def test_unknown_name_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="no prompt named 'agent_sytem'"):
        load_prompts({"agent_sytem": tmp_path / "x.txt"})
    with pytest.raises(PromptError, match="no such template file"):
        load_prompts({"agent_system": tmp_path / "missing.txt"})


def test_defaults_ship_as_package_data() -> None:
    """A non-editable install ships exactly the templates `PROMPTS` names."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["lbi_icl"]
    assert "prompts/defaults/*.txt" in globs
    shipped = {p.stem for p in (root / "lbi_icl" / "prompts" / "defaults").glob("*.txt")}
    per_layout = {stem for files in LAYOUT_FILES.values() for stem in files.values()}
    assert per_layout - set(PROMPTS) == {"agent_user.examples_first"}
    assert shipped == set(PROMPTS) | per_layout


def test_swe_statement_prompt_from_a_user_file(tmp_path: Path, capsys) -> None:
    from lbi_icl.cli import main as cli_main

    f = tmp_path / "stmt.txt"
    f.write_text("Bug in $project. Failing:\n$failing\n", encoding="utf-8")
    rec = _Recorder(["Title\n\nBody"])
    llm_statement(rec, "calc", ["t::a"], {"t::a": "boom"}, load_prompts({"swe_statement_user": f}))  # type: ignore[arg-type]
    assert rec.calls[0][1]["content"] == "Bug in calc. Failing:\n- t::a: boom"
    # `lbi swe build-tasks --prompt` checks the file before building anything
    f.write_text("Bug in $project $repo\n", encoding="utf-8")
    out = tmp_path / "swe"
    argv = ["swe", "build-tasks", "--out", str(out), "--prompt", f"swe_statement_user={f}"]
    assert cli_main(argv) == 1
    err = capsys.readouterr().err
    assert str(f) in err and "$repo" in err and not out.exists()
    assert cli_main(["swe", "build-tasks", "--out", str(out), "--prompt", f"agent_user={f}"]) == 1
    assert "build-tasks uses swe_statement_system, swe_statement_user" in capsys.readouterr().err
