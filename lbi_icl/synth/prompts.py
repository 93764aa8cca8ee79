"""Prompts of the LLM stages, paraphrased from the Learn-by-interact paper (no code or
prompt text was released; these restate its description in our own words)."""

from __future__ import annotations

from lbi_icl.data import Document, Step
from lbi_icl.llm.base import Message

SELF_INSTRUCT_SYSTEM = (
    "You help build practice tasks for an AI agent that works in a software environment."
)

SELF_INSTRUCT_USER = """Below is a page of documentation for the environment "{env}".

Title: {title}
{text}

Think about what people who read this page typically want to get done in this environment.
Write {k} different tasks such a user would ask an agent to perform. Each task must be
concrete, achievable inside the environment, and phrased as an instruction to the agent.
Answer with exactly one task per line and nothing else."""

ROLLOUT_SYSTEM = """You are an agent acting in the environment "{env}".
{action_space}

At every turn, think briefly, then give your action on the last line as
Action: <action>"""

ROLLOUT_USER = """Task: {instruction}

Recent history:
{history}

Current observation:
{observation}

What is your next action?"""

ABSTRACT_USER = """Here is a sequence of interactions of an agent with the environment "{env}":

{trajectory}

Imagine a user gave the agent an instruction and this sequence is exactly what the agent
did to complete it. Write that instruction: one natural, specific task that these actions
accomplish from the first observation to the last one, as a user would phrase it.
Answer with the instruction only, on a single line."""

SUMMARIZE_USER = """Here is a sequence of interactions of an agent with the environment "{env}":

{trajectory}

For each action, say in a few words what it did and what changed in the environment
afterwards. Write the result as one short numbered list, one line per action, so that
someone could replicate the same steps. Answer with the list only."""

COMMITTEE_SYSTEM = "You review training examples for AI agents strictly and honestly."

COMMITTEE_USER = """An example pairs an instruction with the interactions an agent performed
in the environment "{env}".

Instruction: {instruction}

Interactions:
{trajectory}

Judge the example on four criteria:
- aligned: the interactions really accomplish the instruction;
- coherent: every action follows sensibly from the observation before it;
- natural: the instruction sounds like something a real user would ask;
- reasonable: the agent takes no needless detours and does not go back and forth.

Answer with one JSON object and nothing else, e.g.
{{"aligned": true, "coherent": true, "natural": true, "reasonable": false}}"""


def render_window(steps: list[Step], final_observation: str | None, chars: int = 600) -> str:
    """Observation / action lines of a window, each observation cut to `chars`."""
    lines = []
    for i, s in enumerate(steps):
        lines.append(f"Observation {i}: {_cut(s.observation, chars)}")
        lines.append(f"Action {i + 1}: {s.action}")
    if final_observation is not None:
        lines.append(f"Observation {len(steps)}: {_cut(final_observation, chars)}")
    return "\n".join(lines)


def _cut(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 3] + "..."


def self_instruct_messages(env: str, doc: Document, k: int) -> list[Message]:
    return [
        Message(role="system", content=SELF_INSTRUCT_SYSTEM),
        Message(
            role="user",
            content=SELF_INSTRUCT_USER.format(
                env=env, title=doc.title, text=_cut(doc.text, 4000), k=k
            ),
        ),
    ]
