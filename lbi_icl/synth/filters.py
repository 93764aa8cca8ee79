"""Stage 4 — filters: repeated steps, the LLM committee, exact duplicates.

(The environment check lives with each environment: `lbi_icl.synth.check_<env>`.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field

from lbi_icl.data import Trajectory
from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.prompts import PromptSet, default_prompts
from lbi_icl.synth.prompts import render_window
from lbi_icl.synth.relabel_view import observation_view

log = logging.getLogger(__name__)

CRITERIA: tuple[str, ...] = ("aligned", "coherent", "natural", "reasonable")


def drop_repeated_steps(traj: Trajectory) -> tuple[Trajectory, int]:
    """Drop every step whose (action, observation) equals the previous step's: the previous
    action was invalid or changed nothing, so repeating it teaches nothing. The first step
    always stays. Returns the new trajectory and how many steps were dropped."""
    kept = []
    prev: tuple[str, str] | None = None
    for s in traj.steps:
        key = (s.action, s.observation)
        if key != prev:
            kept.append(s)
        prev = key
    dropped = len(traj.steps) - len(kept)
    if not dropped:
        return traj, 0
    source = {**traj.source, "repeat_steps_dropped": dropped}
    return traj.model_copy(update={"steps": kept, "source": source}), dropped


def content_key(traj: Trajectory) -> str:
    """Identity of an example's content (instruction, steps, final observation), for
    exact-duplicate removal; ids and provenance do not count."""
    blob = json.dumps(
        [
            traj.env,
            traj.instruction,
            [[s.observation, s.action] for s in traj.steps],
            traj.final_observation,
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Verdict:
    keep: bool
    votes: dict[str, dict[str, bool] | None] = field(default_factory=dict)  # member → criteria


_BOOL = re.compile(
    r'"?(aligned|coherent|natural|reasonable)"?\s*[:=]\s*"?(true|false|yes|no)"?', re.I
)


def parse_judgement(text: str) -> dict[str, bool] | None:
    """The four criteria from a member's answer (JSON, or 'name: yes/no' lines); None when
    any criterion is missing (an unparsable vote counts as a rejection)."""
    found: dict[str, bool] = {}
    m = re.search(r"\{.*\}", text, re.S)
    if m:
        try:
            obj = json.loads(m.group(0))
            if isinstance(obj, dict):
                for c in CRITERIA:
                    v = obj.get(c)
                    if isinstance(v, bool):
                        found[c] = v
                    elif isinstance(v, str) and v.lower() in ("true", "yes", "false", "no"):
                        found[c] = v.lower() in ("true", "yes")
        except json.JSONDecodeError:
            pass
    if len(found) < len(CRITERIA):
        for name, value in _BOOL.findall(text):
            found.setdefault(name.lower(), value.lower() in ("true", "yes"))
    return found if all(c in found for c in CRITERIA) else None


class Committee:
    """LLM committee (the paper: two different LLMs); an example survives only if every
    member says yes to every criterion."""

    def __init__(
        self, members: list[LLM], *, seed: int = 0, prompts: PromptSet | None = None
    ) -> None:
        if not members:
            raise ValueError("a committee needs at least one member")
        self.members = members
        self.prompts = prompts or default_prompts()
        self._params = GenerationParams(temperature=0.0, max_tokens=200, seed=seed)

    def judge(self, example: Trajectory) -> Verdict:
        messages = [
            Message(role="system", content=self.prompts.render("committee_system")),
            Message(
                role="user",
                content=self.prompts.render(
                    "committee_user",
                    env=example.env,
                    instruction=example.instruction,
                    trajectory=render_window(
                        example.steps,
                        example.final_observation,
                        view=observation_view(example.env),
                    ),
                ),
            ),
        ]
        votes: dict[str, dict[str, bool] | None] = {}
        keep = True
        for i, member in enumerate(self.members):
            vote = parse_judgement(member.complete(messages, self._params).text)
            votes[f"{i}:{member.spec}"] = vote
            if vote is None or not all(vote.values()):
                keep = False
                break  # unanimity already lost; save the other members' calls
        return Verdict(keep=keep, votes=votes)
