"""Helpers of the synthesis prompts. The prompt texts themselves — paraphrased from the
Learn-by-interact paper (no code or prompt text was released; they restate its description
in our own words) — are the templates `self_instruct_*`, `rollout_*`, `relabel_*` and
`committee_*` in `lbi_icl/prompts/defaults/`."""

from __future__ import annotations

from collections.abc import Callable

from lbi_icl.data import Document, Step
from lbi_icl.llm.base import Message
from lbi_icl.prompts import PromptSet, default_prompts


def render_window(
    steps: list[Step],
    final_observation: str | None,
    chars: int = 600,
    view: Callable[[str], str] | None = None,
) -> str:
    """Observation / action lines of a window, each observation seen through `view`
    (synth/relabel_view.py) and cut to `chars`."""
    see = view or (lambda text: text)
    lines = []
    for i, s in enumerate(steps):
        lines.append(f"Observation {i}: {_cut(see(s.observation), chars)}")
        lines.append(f"Action {i + 1}: {s.action}")
    if final_observation is not None:
        lines.append(f"Observation {len(steps)}: {_cut(see(final_observation), chars)}")
    return "\n".join(lines)


def _cut(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 3] + "..."


def self_instruct_messages(
    env: str, doc: Document, k: int, prompts: PromptSet | None = None
) -> list[Message]:
    prompts = prompts or default_prompts()
    user = prompts.render(
        "self_instruct_user", env=env, title=doc.title, text=_cut(doc.text, 4000), k=k
    )
    return [
        Message(role="system", content=prompts.render("self_instruct_system")),
        Message(role="user", content=user),
    ]
