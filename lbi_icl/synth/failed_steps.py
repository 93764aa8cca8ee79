"""Stage 4 filter: cut steps whose action failed, per environment.

A noisy expert's detours include actions the environment rejects; an example that keeps
them teaches the agent actions that do nothing. Each environment has one documented test
`failed(action, observation_before, observation_after) -> bool`:

- **scienceworld**: the simulator's answer is a rejection sentence (`FAILURE`: "No known
  action matches that input.", "You can't move something into itself.", "Unknown
  action.", ambiguity prompts, "... is already open", "It's not clear how to ...").
- **babyai**: the action was invalid ("Invalid action ..."), or it was not `done` and the
  observation did not change at all (a no-op move: walking into a wall, picking up or
  toggling nothing, dropping with nothing carried).
- **web** (miniwob and the WebArena family): BrowserGym rejected the action — the next
  observation's header carries `Last action error: ...` (a malformed call such as
  `click([13])`, an element id that does not exist); the page is unchanged.

Environments without a test are left as they are. Cutting step i removes it and shows its
observation in place of the failure message that followed it (a failed action leaves the
state unchanged), so the example stays a consistent observation -> action sequence.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lbi_icl.data import Trajectory
from lbi_icl.envs.browsergym.text import ACTION_ERROR_LINE, TREE_LINE

FailedTest = Callable[[str, str, str], bool]

FAILURE = re.compile(
    r"^\s*(?:No known action matches"
    r"|Unknown action"
    r"|Ambiguous request"
    r"|It's not clear how to"
    r"|That can't be"
    r"|You can't"
    r"|You cannot"
    r"|The door is not open"
    r"|That container is empty"
    r"|.*\bis not (?:openable|closeable|movable|moveable|something that can be)\b"
    r"|.*\bisn't open, so you can't\b"
    r"|.*\bis already (?:open|closed|activated|deactivated|on|off)\b"
    r"|.*\bnot possible\b"
    r"|.*\bcan't (?:be|do|see)\b)",
    re.IGNORECASE,
)


def scienceworld_failed(action: str, before: str, after: str) -> bool:
    """The simulator rejected the action (its answer matches `FAILURE`)."""
    return FAILURE.match(after) is not None


def babyai_failed(action: str, before: str, after: str) -> bool:
    """Invalid action, or a no-op: the observation is unchanged (`done` is exempt)."""
    if after.startswith("Invalid action"):
        return True
    return action.strip().lower() != "done" and after == before


def web_failed(action: str, before: str, after: str) -> bool:
    """BrowserGym rejected the action: its error line is in the next observation's header
    (above the accessibility tree, so page text cannot fake it)."""
    header = after.split("\n" + TREE_LINE, 1)[0]
    return any(line.startswith(ACTION_ERROR_LINE) for line in header.splitlines())


WEB_ENVS = ("miniwob", "webarena", "webarena_verified", "visualwebarena", "workarena")

FAILED_TESTS: dict[str, FailedTest] = {
    "scienceworld": scienceworld_failed,
    "babyai": babyai_failed,
    **dict.fromkeys(WEB_ENVS, web_failed),
}


def failed_test(env: str) -> FailedTest | None:
    return FAILED_TESTS.get(env)


def cut_failed_steps(traj: Trajectory, test: FailedTest) -> tuple[Trajectory, int]:
    """Remove every step whose action failed (by `test`, judged on the original
    observations). The step after a cut one shows the cut step's observation; a cut last
    step's observation becomes the final observation. Returns (trajectory, steps cut)."""
    steps = traj.steps
    n = len(steps)
    kept = []
    carry: str | None = None  # observation to show in place of a failure message
    for i, step in enumerate(steps):
        after = steps[i + 1].observation if i + 1 < n else traj.final_observation
        shown = step.observation if carry is None else carry
        if after is not None and test(step.action, step.observation, after):
            carry = shown
            continue
        kept.append(step if carry is None else step.model_copy(update={"observation": shown}))
        carry = None
    cut = n - len(kept)
    if not cut:
        return traj, 0
    update: dict[str, object] = {
        "steps": kept,
        "source": {**traj.source, "failed_steps_cut": cut},
    }
    if carry is not None:
        update["final_observation"] = carry
    return traj.model_copy(update=update), cut
