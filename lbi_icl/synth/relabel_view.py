"""What the LLM relabeler and the committee see of a window's observations.

Backward construction asks what a window of actions accomplished; the committee asks
whether an instruction matches what the actions did. A web observation starts with the
page's own task (`Goal: ...`, envs/browsergym/text.py), which the window may not achieve.
Shown that line, the local model copied it as the window's instruction: in the MiniWoB
suite's LLM-synthesized data (benchmarks/llm/README.md, 2026-12-06) 34 of 76 kept abstract
instructions were the page's goal verbatim, 30 of them over windows that did not solve the
page, and the committee, shown the same line, let them pass. So both see web observations
without it. BabyAI's observations leave the mission out already (`show_mission=False`);
other envs are shown as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from lbi_icl.envs.browsergym.text import without_goal
from lbi_icl.synth.failed_steps import WEB_ENVS

ObservationView = Callable[[str], str]

VIEWS: dict[str, tuple[str, ObservationView]] = dict.fromkeys(
    WEB_ENVS, ("task goal hidden", without_goal)
)


def observation_view(env: str) -> ObservationView | None:
    """How the relabeler and the committee see `env`'s observations (None: as they are)."""
    entry = VIEWS.get(env)
    return entry[1] if entry else None


def view_name(env: str) -> str:
    """The view in words, for the synthesis report."""
    entry = VIEWS.get(env)
    return entry[0] if entry else "as observed"
