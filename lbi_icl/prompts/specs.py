"""The prompts the library sends to an LLM: one name per template, the variables each
template may use, and which stage sends it.

Adding a prompt = one `PromptSpec` here + `defaults/NAME.txt`; `tests/test_prompts.py`
checks that every spec has a default file that uses only its variables.

Prompt layouts: the agent's user message has two packaged defaults, picked by
`AgentConfig.prompt_layout` when the user has not replaced `agent_user` with their own file:

- `stable_first` (the default, `defaults/agent_user.txt`): the objective first, then the
  per-step parts (retrieved examples, interaction history, current observation, valid
  actions, answer format), so the head of the prompt that stays the same across an
  episode's steps (system message + objective) is a prefix a provider's cache can hold
  whatever the retrieved examples are (llm/prompt_cache.py);
- `examples_first` (`defaults/agent_user.examples_first.txt`): the paper's layout and the
  default before the setting existed (runs made then resume as this layout): the retrieved
  examples before the objective, byte for byte the earlier prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Stage = Literal["agent", "query", "synth", "swe"]
PromptLayout = Literal["stable_first", "examples_first"]
PROMPT_LAYOUTS: tuple[PromptLayout, ...] = ("stable_first", "examples_first")
DEFAULT_LAYOUT: PromptLayout = "stable_first"
LEGACY_LAYOUT: PromptLayout = "examples_first"  # what runs made before the setting used
# the prompts whose packaged default depends on the layout: name -> {layout: file stem}
LAYOUT_FILES: dict[str, dict[PromptLayout, str]] = {
    "agent_user": {"stable_first": "agent_user", "examples_first": "agent_user.examples_first"}
}


@dataclass(frozen=True)
class PromptSpec:
    name: str
    stage: Stage
    variables: tuple[str, ...]
    doc: str


_SPECS = (
    PromptSpec(
        "agent_system",
        "agent",
        ("env", "in_env", "action_space", "answer_format"),
        "system message of every agent step; $in_env is ' in the ENV environment' (or '' "
        "without an env name), $action_space the environment's own action description",
    ),
    PromptSpec(
        "agent_user",
        "agent",
        (
            "reference_section",
            "reference",
            "instruction",
            "history",
            "observation",
            "valid_actions_section",
            "valid_actions",
            "answer_format",
        ),
        "user message of every agent step (its packaged default follows the prompt layout: "
        "objective first, or the paper's examples first); $reference_section is "
        "agent_reference + a blank line (or '' when nothing was retrieved), "
        "$valid_actions_section is a blank line + "
        "agent_valid_actions (or '' when the env lists none or too many); $reference and "
        "$valid_actions are the bare texts",
    ),
    PromptSpec("agent_reference", "agent", ("reference",), "the retrieval block's section"),
    PromptSpec(
        "agent_valid_actions", "agent", ("valid_actions",), "the listed valid actions' section"
    ),
    PromptSpec(
        "agent_answer_format",
        "agent",
        (),
        "the answer format ($answer_format); agent/parse.py reads 'Reason:' / 'Action:' lines",
    ),
    PromptSpec("query_system", "query", (), "system message of the query writer (model, agentic)"),
    PromptSpec(
        "query_user", "query", ("instruction", "history", "observation"), "query-writer request"
    ),
    PromptSpec("self_instruct_system", "synth", (), "system message of self-instruct"),
    PromptSpec(
        "self_instruct_user",
        "synth",
        ("env", "title", "text", "k"),
        "self-instruct: k tasks from one documentation page",
    ),
    PromptSpec(
        "rollout_system", "synth", ("env", "action_space"), "system message of the llm explorer"
    ),
    PromptSpec(
        "rollout_user",
        "synth",
        ("instruction", "history", "observation"),
        "one step of the llm explorer",
    ),
    PromptSpec(
        "relabel_abstract",
        "synth",
        ("env", "trajectory"),
        "backward construction: the task a window accomplishes",
    ),
    PromptSpec(
        "relabel_summarize",
        "synth",
        ("env", "trajectory"),
        "backward construction: a step-by-step summary of a window",
    ),
    PromptSpec("committee_system", "synth", (), "system message of the LLM committee"),
    PromptSpec(
        "committee_user",
        "synth",
        ("env", "instruction", "trajectory"),
        "committee: judge one example on four criteria",
    ),
    PromptSpec("swe_statement_system", "swe", (), "system message of the swe statement writer"),
    PromptSpec(
        "swe_statement_user",
        "swe",
        ("project", "failing", "tests"),
        "swe taskset: an issue text from the failing tests ($failing: one '- test: message' "
        "line each; $tests: their source in a fenced block with a heading, or '')",
    ),
)

PROMPTS: dict[str, PromptSpec] = {s.name: s for s in _SPECS}


def names_of(*stages: Stage) -> tuple[str, ...]:
    return tuple(s.name for s in _SPECS if s.stage in stages)
