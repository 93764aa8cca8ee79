"""The per-step prompt, rendered from the templates `agent_system`, `agent_user`,
`agent_reference`, `agent_valid_actions` and `agent_answer_format`
(`lbi_icl/prompts/defaults/`; a run config may replace any of them). `agent_user` has one
packaged default per prompt layout (`AgentConfig.prompt_layout`, lbi_icl/prompts/specs.py);
the defaults give this layout:

system: the environment's action-space text and the answer format.
user, `stable_first` (the default), in this order:
  1. `Objective` — the task instruction (the same at every step of an episode: with the
     system message, the prefix a provider's prompt cache holds, llm/prompt_cache.py);
  2. `Additional information for reference` — the retrieved items as `agent/fit.py`
     rendered them (`retrieval/render.py`), after fitting; the whole section is left out
     when there are none (strategy `none`);
  3. `Interaction history` — the last `history_steps` steps, each observation truncated to
     `observation_chars` characters (head kept, a `[... N more characters]` marker added);
     older steps are summarized as a count;
  4. `Current observation` — truncated only beyond `current_observation_chars`;
  5. (optional) `Valid actions` when the environment lists at most `list_valid_actions`;
  6. the instruction to answer with a reason and an action in a fixed, parseable format.

`examples_first` (the paper's layout) puts 2 before 1 and is otherwise the same; without
retrieved examples both layouts render the same text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from lbi_icl.agent.base import AgentConfig
from lbi_icl.llm.base import Message
from lbi_icl.prompts import PromptSet, default_prompts

# The default templates' fixed texts (tests look for them; fitting does not).
ANSWER_FORMAT = "Reason: <why this action, in one or two sentences>\nAction: <exactly one action>"
SECTION_REFERENCE = "## Additional information for reference"
SECTION_OBJECTIVE = "## Objective"
SECTION_HISTORY = "## Interaction history"
SECTION_CURRENT = "## Current observation"
SECTION_VALID = "## Valid actions"


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier step as the model sees it. `action` is what was sent to the environment,
    or a note saying why nothing was (unparsable or invalid answer)."""

    step: int
    observation: str
    action: str


def truncate(text: str, limit: int | None) -> str:
    """Keep the first `limit` characters and say how many were cut."""
    if limit is None or len(text) <= limit:
        return text
    cut = len(text) - limit
    return f"{text[:limit]}[... {cut} more characters]"


def system_message(
    action_space_text: str, env_name: str | None = None, prompts: PromptSet | None = None
) -> str:
    prompts = prompts or default_prompts()
    return prompts.render(
        "agent_system",
        env=env_name or "",
        in_env=f" in the {env_name} environment" if env_name else "",
        action_space=action_space_text.strip(),
        answer_format=prompts.render("agent_answer_format"),
    )


def _history_block(history: list[HistoryEntry], config: AgentConfig) -> str:
    if not history:
        return "(no actions taken yet)"
    shown = history[-config.history_steps :] if config.history_steps > 0 else []
    lines: list[str] = []
    omitted = len(history) - len(shown)
    if omitted:
        lines.append(f"({omitted} earlier step{'s' if omitted != 1 else ''} not shown)")
    for entry in shown:
        lines.append(f"Step {entry.step + 1}:")
        lines.append(f"Observation: {truncate(entry.observation, config.observation_chars)}")
        lines.append(f"Action: {entry.action}")
    return "\n".join(lines)


@dataclass(frozen=True)
class RenderedPrompt:
    messages: list[Message]
    templates: tuple[str, ...]  # the template names this prompt was rendered from


def render_prompt(
    *,
    action_space_text: str,
    instruction: str,
    observation: str,
    history: list[HistoryEntry],
    reference: str,
    config: AgentConfig,
    env_name: str | None = None,
    valid_actions: list[str] | None = None,
    prompts: PromptSet | None = None,
) -> RenderedPrompt:
    """The system and user messages for one step (layout in the module docstring; the
    packaged `agent_user` is `config.prompt_layout`'s)."""
    prompts = (prompts or default_prompts()).with_layout(config.prompt_layout)
    used = ["agent_system", "agent_user", "agent_answer_format"]
    ref = reference.strip()
    reference_section = ""
    if ref:
        reference_section = prompts.render("agent_reference", reference=ref) + "\n\n"
        used.append("agent_reference")
    listed = ""
    valid_section = ""
    if valid_actions and len(valid_actions) <= config.list_valid_actions:
        listed = "\n".join(f"- {a}" for a in valid_actions)
        valid_section = "\n\n" + prompts.render("agent_valid_actions", valid_actions=listed)
        used.append("agent_valid_actions")
    user = prompts.render(
        "agent_user",
        reference_section=reference_section,
        reference=ref,
        instruction=instruction.strip(),
        history=_history_block(history, config),
        observation=truncate(observation, config.current_observation_chars),
        valid_actions_section=valid_section,
        valid_actions=listed,
        answer_format=prompts.render("agent_answer_format"),
    )
    messages = [
        Message(role="system", content=system_message(action_space_text, env_name, prompts)),
        Message(role="user", content=user),
    ]
    return RenderedPrompt(messages, tuple(sorted(used)))


def render_messages(**kwargs: Any) -> list[Message]:
    """`render_prompt(...)`'s messages."""
    return render_prompt(**kwargs).messages


def messages_as_dicts(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def prompt_sha256(messages: list[Message]) -> str:
    """Stable hash of a prompt (canonical JSON of role/content pairs), for step logs."""
    payload = json.dumps(messages_as_dicts(messages), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
