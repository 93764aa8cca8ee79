"""Stage 3 — backward construction: every contiguous window of a raw trajectory gets
instructions it accomplishes (abstract: a task; summarize: "Replicate the following: ...").

Windows are half-open step ranges [start, end): observations o_start..o_end and actions
a_{start+1}..a_end, i.e. `steps[start:end]` plus o_end as the final observation.
"""

from __future__ import annotations

import random
import re

from lbi_icl.data import Trajectory
from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.prompts import PromptSet, default_prompts
from lbi_icl.synth.base import WindowInstruction
from lbi_icl.synth.prompts import render_window
from lbi_icl.synth.relabel_view import observation_view

REPLICATE_PREFIX = "Replicate the following: "


def all_windows(
    n_steps: int, min_len: int = 1, max_len: int | None = None
) -> list[tuple[int, int]]:
    """Every [start, end) with min_len <= end - start <= max_len, by start then end."""
    hi = n_steps if max_len is None else min(max_len, n_steps)
    return [
        (s, s + length)
        for s in range(n_steps)
        for length in range(min_len, hi + 1)
        if s + length <= n_steps
    ]


def count_windows(n_steps: int, min_len: int = 1, max_len: int | None = None) -> int:
    """Closed form of len(all_windows(...)): sum over lengths L of (n - L + 1)."""
    hi = n_steps if max_len is None else min(max_len, n_steps)
    return sum(n_steps - length + 1 for length in range(min_len, hi + 1))


def select_windows(
    n_steps: int,
    *,
    min_len: int,
    max_len: int | None,
    cap: int | None,
    seed: int,
) -> list[tuple[int, int]]:
    """All windows, or `cap` of them sampled with `seed` (same seed → same windows),
    returned in (start, end) order."""
    windows = all_windows(n_steps, min_len, max_len)
    if cap is None or len(windows) <= cap:
        return windows
    return sorted(random.Random(seed).sample(windows, cap))


def window_example(
    parent: Trajectory, start: int, end: int, wi: WindowInstruction, index: int = 0
) -> Trajectory:
    """The example a window and one of its instructions make, with full provenance."""
    if not 0 <= start < end <= len(parent.steps):
        raise ValueError(f"bad window [{start}, {end}) for {len(parent.steps)} steps")
    final = parent.steps[end].observation if end < len(parent.steps) else parent.final_observation
    instruction = wi.instruction.strip()
    if wi.kind == "summarize" and not instruction.lower().startswith("replicate the following"):
        instruction = REPLICATE_PREFIX + instruction
    source = {
        "kind": "backward",
        "parent_id": parent.id,
        "span": [start, end],
        "instruction_kind": wi.kind,
        "writer": wi.writer,
        "explorer": parent.source.get("explorer", parent.source.get("kind")),
    }
    if wi.goal is not None:
        source["goal"] = wi.goal
    suffix = f"/{index}" if index else ""
    return Trajectory(
        id=f"{parent.id}/w{start}-{end}/{wi.kind}{suffix}",
        env=parent.env,
        instruction=instruction,
        steps=[s.model_copy(deep=True) for s in parent.steps[start:end]],
        final_observation=final,
        outcome="success",
        source=source,
        split=parent.split,
        metadata={**parent.metadata, "parent_instruction": parent.instruction},
    )


class LLMRelabeler:
    """Backward construction with an LLM (paraphrased paper prompts): one abstract task and
    one step-by-step summary per window."""

    def __init__(
        self,
        llm: LLM,
        *,
        kinds: tuple[str, ...] = ("abstract", "summarize"),
        temperature: float = 0.0,
        seed: int = 0,
        prompts: PromptSet | None = None,
        hide_goal: bool = True,
    ):
        self.llm = llm
        self.kinds = kinds
        self.hide_goal = hide_goal  # web: the page's goal left out (synth/relabel_view.py)
        self.prompts = prompts or default_prompts()
        self.name = f"llm:{llm.spec}"
        self._params = GenerationParams(temperature=temperature, max_tokens=400, seed=seed)

    def relabel(self, parent: Trajectory, start: int, end: int) -> list[WindowInstruction]:
        final = (
            parent.steps[end].observation if end < len(parent.steps) else parent.final_observation
        )
        view = observation_view(parent.env) if self.hide_goal else None
        rendered = render_window(parent.steps[start:end], final, view=view)
        out: list[WindowInstruction] = []
        for kind in self.kinds:
            name = "relabel_abstract" if kind == "abstract" else "relabel_summarize"
            text = self.prompts.render(name, env=parent.env, trajectory=rendered)
            msg = Message(role="user", content=text)
            text = self.llm.complete([msg], self._params).text.strip()
            instruction = _clean_abstract(text) if kind == "abstract" else _clean_summary(text)
            if instruction:
                out.append(WindowInstruction(instruction=instruction, kind=kind, writer=self.name))  # type: ignore[arg-type]
        return out


def _clean_abstract(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    line = re.sub(r"^(instruction|task)\s*:\s*", "", lines[0], flags=re.IGNORECASE)
    return line.strip().strip('"').strip()


def _clean_summary(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " ".join(lines)
