"""Evaluation protocols of the web envs: BrowserGym's benchmark definitions, or lbi's own.

`protocol="browsergym"` (the default) runs exactly what browsergym-experiments 0.14.3
defines in its `Benchmark` objects (`DEFAULT_BENCHMARKS`), which AgentLab's published
numbers use; the values are reproduced here (the package itself is not a dependency) and
`tests/test_web_protocol.py` checks them against the installed package:

- **miniwob**: the 125 MiniWoB++ tasks, 5 repeats each, `max_steps` 10, seeds drawn task by
  task, in task order, with `np.random.RandomState(42).randint(0, SEED_MAX, size=5)`;
  the action set `miniwob_all` (coordinate actions included) with `retry_with_force`,
  `strict` and `multiaction` off; each task's own timeout (5 s), `slow_mo` (100 ms) and
  viewport. **miniwob_tiny_test**: click-dialog and click-checkboxes, 2 repeats, 5 steps.
- **webarena** (812 tasks), **visualwebarena** (910), **webarena_verified** (812): 1 repeat,
  30 steps, the `webarena` / `visualwebarena` action set with `retry_with_force`.
- **workarena_l1**: WorkArena's agent curriculum (meta seed 42, 10 seeds per task),
  15 steps, action set `workarena`; **l2 / l3**: 50 steps, `workarena++`.

`SEED_MAX` is 34: browsergym-experiments writes `SEED_MAX = 2 ^ 32`, which in Python is an
exclusive-or, so its benchmarks' seeds lie in [0, 34). Reproduced as published.

`protocol="lbi"` keeps the project's earlier settings (bid-only action subsets, 15 MiniWoB
steps, seeds from 0 / 1,000,000 / 2,000,000 per split, a 30 s page-load timeout).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SEED_MAX = 34  # browsergym-experiments: `SEED_MAX = 2 ^ 32`, an exclusive-or in Python
RNG_SEED = 42
PROTOCOLS = ("browsergym", "lbi")
ProtocolName = Literal["browsergym", "lbi"]

MINIWOB_TASKS: tuple[str, ...] = tuple(
    """
ascending-numbers bisect-angle book-flight book-flight-nodelay buy-ticket choose-date
choose-date-easy choose-date-medium choose-date-nodelay choose-list circle-center
click-button click-button-sequence click-checkboxes click-checkboxes-large
click-checkboxes-soft click-checkboxes-transfer click-collapsible click-collapsible-2
click-collapsible-2-nodelay click-collapsible-nodelay click-color click-dialog
click-dialog-2 click-link click-menu click-menu-2 click-option click-pie
click-pie-nodelay click-scroll-list click-shades click-shape click-tab click-tab-2
click-tab-2-easy click-tab-2-hard click-tab-2-medium click-test click-test-2
click-test-transfer click-widget copy-paste copy-paste-2 count-shape count-sides
daily-calendar drag-box drag-circle drag-cube drag-items drag-items-grid drag-shapes
drag-shapes-2 drag-single-shape drag-sort-numbers draw-circle draw-line email-inbox
email-inbox-delete email-inbox-forward email-inbox-forward-nl
email-inbox-forward-nl-turk email-inbox-important email-inbox-nl-turk
email-inbox-noscroll email-inbox-reply email-inbox-star-reply enter-date enter-password
enter-text enter-text-2 enter-text-dynamic enter-time find-greatest find-midpoint
find-word focus-text focus-text-2 form-sequence form-sequence-2 form-sequence-3
generate-number grid-coordinate guess-number highlight-text highlight-text-2 hot-cold
identify-shape login-user login-user-popup multi-layouts multi-orderings navigate-tree
number-checkboxes odd-or-even order-food phone-book read-table read-table-2
resize-textarea right-angle scroll-text scroll-text-2 search-engine sign-agreement
simple-algebra simple-arithmetic social-media social-media-all social-media-some
stock-market terminal text-editor text-transform tic-tac-toe unicode-test
use-autocomplete use-autocomplete-nodelay use-colorwheel use-colorwheel-2 use-slider
use-slider-2 use-spinner visual-addition
""".split()  # noqa: SIM905
)


class ActionSetArgs(BaseModel):
    """BrowserGym's `HighLevelActionSet` arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subsets: tuple[str, ...]
    multiaction: bool = False
    strict: bool = False
    retry_with_force: bool = False
    demo_mode: str | None = None


# the project's earlier (lbi protocol) action set: bid actions, chat, infeasible, nav, tabs
LBI_ACTION_SET = ActionSetArgs(subsets=("chat", "infeas", "bid", "nav", "tab"))


def bg_action_set(subset: str) -> ActionSetArgs:
    """browsergym-experiments' `DEFAULT_HIGHLEVEL_ACTION_SET_ARGS[subset]`."""
    return ActionSetArgs(
        subsets=(subset,), multiaction=False, strict=False, retry_with_force=True, demo_mode="off"
    )


class Protocol(BaseModel):
    """One benchmark's evaluation settings, recorded in the run manifest and the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ProtocolName
    benchmark: str  # browsergym-experiments' benchmark name (or the env's, for lbi)
    max_steps: int  # actions per episode (the episode is truncated after them)
    n_repeats: int  # episodes per task in the test split
    seeds: str  # how the test split's seeds are drawn, in words
    action_set: ActionSetArgs
    timeout_ms: int | None = None  # Playwright's default timeout; None: each task's own
    slow_mo: int | None = None  # None: each task's own (MiniWoB 100 ms)
    tasks: int = Field(0, ge=0)  # tasks in the benchmark (before repeats)
    source: str = ""

    def note(self) -> str:
        """One line for the run manifest's env notes and the report header."""
        a = self.action_set
        flags = ", ".join(
            f"{k}={'on' if v else 'off'}"
            for k, v in (
                ("retry_with_force", a.retry_with_force),
                ("strict", a.strict),
                ("multiaction", a.multiaction),
            )
        )
        own = "each task's own"
        return (
            f"protocol {self.name}: benchmark {self.benchmark} ({self.tasks} tasks x "
            f"{self.n_repeats} repeats, seeds {self.seeds}), max_steps {self.max_steps}, "
            f"action set {'+'.join(a.subsets)} ({flags}), timeout "
            f"{own if self.timeout_ms is None else f'{self.timeout_ms} ms'}, slow_mo "
            f"{own if self.slow_mo is None else f'{self.slow_mo} ms'}"
            + (f"; {self.source}" if self.source else "")
        )


BG_SOURCE = "as defined by browsergym-experiments 0.14.3 (DEFAULT_BENCHMARKS)"
REPEAT_SEEDS = f"RandomState({RNG_SEED}).randint(0, {SEED_MAX}) per task in task order"


def repeat_seeds(task_names: list[str] | tuple[str, ...], n_repeats: int) -> list[list[int]]:
    """The seeds of `make_env_args_list_from_repeat_tasks`: one shared
    `np.random.RandomState(42)`, `n_repeats` draws in [0, SEED_MAX) per task, in order."""
    import numpy as np

    rng = np.random.RandomState(RNG_SEED)
    return [[int(s) for s in rng.randint(low=0, high=SEED_MAX, size=n_repeats)] for _ in task_names]


MINIWOB_BENCHMARKS: dict[str, tuple[tuple[str, ...], int, int]] = {
    # name: (task names, max_steps, n_repeats)
    "miniwob": (MINIWOB_TASKS, 10, 5),
    "miniwob_tiny_test": (("click-dialog", "click-checkboxes"), 5, 2),
}


def miniwob_protocol(name: ProtocolName, benchmark: str = "miniwob") -> Protocol:
    if name == "lbi":
        return Protocol(
            name="lbi",
            benchmark="miniwob",
            max_steps=15,
            n_repeats=3,
            seeds="test from 2,000,000 (train 0, dev 1,000,000)",
            action_set=LBI_ACTION_SET,
            timeout_ms=30000,
            tasks=len(MINIWOB_TASKS),
        )
    if benchmark not in MINIWOB_BENCHMARKS:
        raise ValueError(
            f"miniwob: benchmark={benchmark!r}; expected one of {', '.join(MINIWOB_BENCHMARKS)}"
        )
    names, steps, repeats = MINIWOB_BENCHMARKS[benchmark]
    return Protocol(
        name="browsergym",
        benchmark=benchmark,
        max_steps=steps,
        n_repeats=repeats,
        seeds=REPEAT_SEEDS,
        action_set=bg_action_set("miniwob_all"),
        tasks=len(names),
        source=BG_SOURCE,
    )


# WebArena family: env name -> (benchmark, action subset, max_steps, n_repeats)
WA_FAMILY: dict[str, tuple[str, str, int, int]] = {
    "webarena": ("webarena", "webarena", 30, 1),
    "visualwebarena": ("visualwebarena", "visualwebarena", 30, 1),
    "webarena_verified": ("webarena_verified", "webarena", 30, 1),
}
WORKARENA = {  # level -> (benchmark, action subset, max_steps)
    "l1": ("workarena_l1", "workarena", 15),
    "l2": ("workarena_l2_agent_curriculum_eval", "workarena++", 50),
    "l3": ("workarena_l3_agent_curriculum_eval", "workarena++", 50),
}


def webarena_protocol(env_name: str, name: ProtocolName, tasks: int) -> Protocol:
    benchmark, subset, steps, repeats = WA_FAMILY[env_name]
    if name == "lbi":
        return Protocol(
            name="lbi",
            benchmark=env_name,
            max_steps=30,
            n_repeats=1,
            seeds="0",
            action_set=LBI_ACTION_SET,
            tasks=tasks,
        )
    return Protocol(
        name="browsergym",
        benchmark=benchmark,
        max_steps=steps,
        n_repeats=repeats,
        seeds=REPEAT_SEEDS,
        action_set=bg_action_set(subset),
        tasks=tasks,
        source=BG_SOURCE,
    )


def workarena_protocol(level: str, name: ProtocolName, tasks: int, seeds_per_task: int) -> Protocol:
    benchmark, subset, steps = WORKARENA[level]
    seeds = f"WorkArena's agent curriculum, meta seed 42, {seeds_per_task} seeds per L1 task"
    if name == "lbi":
        return Protocol(
            name="lbi",
            benchmark=f"workarena_{level}",
            max_steps=30,
            n_repeats=1,
            seeds=seeds + " (repeated seeds dropped)",
            action_set=LBI_ACTION_SET,
            tasks=tasks,
        )
    return Protocol(
        name="browsergym",
        benchmark=benchmark,
        max_steps=steps,
        n_repeats=1,
        seeds=seeds,
        action_set=bg_action_set(subset),
        tasks=tasks,
        source=BG_SOURCE,
    )


def check_protocol(env_name: str, value: str) -> ProtocolName:
    if value not in PROTOCOLS:
        raise ValueError(
            f"{env_name}: protocol={value!r}; expected 'browsergym' (BrowserGym's benchmark "
            "definitions, the default) or 'lbi' (the project's earlier settings)"
        )
    return value  # type: ignore[return-value]
