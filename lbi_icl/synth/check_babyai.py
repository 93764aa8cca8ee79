"""Environment check for BabyAI windows: replay the parent trajectory to the window's start
state, re-run the window, and keep the example only if

- every observation the window shows is reproduced exactly (the record is faithful), and
- for an instruction with a goal, minigrid's own verifier (GoToInstr, PickupInstr,
  OpenInstr, PutNextInstr, BeforeInstr) first reports success on the window's *last*
  action — achieved, and not already earlier (which would make the tail a detour).
"""

from __future__ import annotations

import logging
from typing import Any

from lbi_icl.data import Trajectory
from lbi_icl.envs.babyai_text import DROP, parse_action, render_observation
from lbi_icl.synth.base import WindowInstruction

log = logging.getLogger(__name__)


def _view(observation: str) -> str:
    """The part of an observation the state determines (no mission / invalid-action note)."""
    i = observation.find("You see:")
    return observation[i:] if i >= 0 else observation


def build_instr(goal: dict[str, Any]) -> Any:
    """A minigrid verifier instruction for a hindsight goal."""
    from minigrid.envs.babyai.core.verifier import (
        BeforeInstr,
        GoToInstr,
        ObjDesc,
        OpenInstr,
        PickupInstr,
        PutNextInstr,
    )

    kind = goal["kind"]
    if kind == "then":
        return BeforeInstr(build_instr(goal["first"]), build_instr(goal["second"]))
    obj = ObjDesc(goal["obj"][0], goal["obj"][1])
    if kind == "goto":
        return GoToInstr(obj)
    if kind == "pickup":
        return PickupInstr(obj)
    if kind == "open":
        return OpenInstr(obj)
    if kind == "put_next":
        return PutNextInstr(obj, ObjDesc(goal["target"][0], goal["target"][1]))
    raise ValueError(f"unknown BabyAI goal kind {kind!r}")


def _leaves(instr: Any) -> list[Any]:
    if hasattr(instr, "instr_a"):
        return _leaves(instr.instr_a) + _leaves(instr.instr_b)
    return [instr]


def _track_carried(instr: Any, env: Any) -> None:
    """minigrid's ObjDesc only scans the grid; an object already in the agent's hands at the
    window start must still count (e.g. 'put the red ball next to ...')."""
    carried = env.carrying
    if carried is None:
        return
    for leaf in _leaves(instr):
        if hasattr(leaf, "preCarrying"):  # reset_verifier assumes empty hands
            leaf.preCarrying = carried
        for attr in ("desc", "desc_move"):
            desc = getattr(leaf, attr, None)
            if (
                desc is not None
                and desc.type == carried.type
                and desc.color == carried.color
                and not any(o is carried for o in desc.obj_set)
            ):
                desc.obj_set.append(carried)


def _update_positions(instr: Any) -> None:
    for leaf in _leaves(instr):
        leaf.update_objs_poss()


class BabyAIWindowChecker:
    """`WindowChecker` for BabyAI (see the module docstring).

    Faithfulness (every recorded observation reproduced) is a property of the parent, so
    it is checked once per parent by one full replay and cached; each window with a goal
    then costs one reset, its prefix and its own actions under the verifier."""

    name = "env-check-babyai"

    def __init__(self, cache_size: int = 64) -> None:
        self._envs: dict[str, Any] = {}
        self._faithful: dict[str, bool] = {}
        self._cache_size = cache_size
        self.reasons: dict[str, int] = {}

    def _reject(self, why: str) -> bool:
        self.reasons[why] = self.reasons.get(why, 0) + 1
        return False

    def _start(self, parent: Trajectory) -> tuple[Any, list[int | None]] | None:
        from lbi_icl.envs.babyai import make_level, reset_level

        level, seed = parent.metadata.get("level"), parent.metadata.get("seed")
        if not isinstance(level, str) or not isinstance(seed, int):
            return None
        env = self._envs.get(level)
        if env is None:
            env = self._envs[level] = make_level(level)
        reset_level(env, seed)
        return env, [parse_action(s.action) for s in parent.steps]

    def faithful(self, parent: Trajectory) -> bool:
        """Does replaying the parent's actions reproduce every observation it records?"""
        cached = self._faithful.get(parent.id)
        if cached is not None:
            return cached
        started = self._start(parent)
        ok = started is not None
        if started is not None:
            env, actions = started
            observations = parent.observations()
            ok = render_observation(env) == _view(observations[0])
            for i, a in enumerate(actions):
                if not ok:
                    break
                if a is not None:  # an unparsable action was not applied by the env either
                    env.step(a)
                if i + 1 < len(observations):
                    ok = render_observation(env) == _view(observations[i + 1])
        if len(self._faithful) >= self._cache_size:
            self._faithful.pop(next(iter(self._faithful)))
        self._faithful[parent.id] = ok
        return ok

    def check(
        self, parent: Trajectory, start: int, end: int, instruction: WindowInstruction
    ) -> bool:
        if not self.faithful(parent):
            return self._reject("recorded observations not reproduced")
        if instruction.goal is None:
            return True
        try:
            instr = build_instr(instruction.goal)
        except (ValueError, KeyError, AssertionError) as e:
            log.debug("bad goal %s: %s", instruction.goal, e)
            return self._reject("bad goal")
        started = self._start(parent)
        if started is None:
            return self._reject("no level/seed in the parent's metadata")
        env, actions = started
        for a in actions[:start]:
            if a is not None:
                env.step(a)
        instr.reset_verifier(env)
        _track_carried(instr, env)
        window = actions[start:end]
        for k, a in enumerate(window):
            if a is None:
                continue
            env.step(a)
            if a == DROP:
                _update_positions(instr)
            status = instr.verify(a)
            if status == "failure":
                return self._reject("verifier failure")
            if status == "success":
                if k < len(window) - 1:
                    return self._reject("achieved before the window ends")
                return True
        return self._reject("goal not achieved")


def make_checker(**options: Any) -> BabyAIWindowChecker:
    return BabyAIWindowChecker(**options)
