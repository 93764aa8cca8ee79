"""Synthesis configuration and report (the paper's Table 1 counts)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lbi_icl.prompts import PromptSet, load_prompts, names_of
from lbi_icl.synth.task_order import TaskOrder
from lbi_icl.util.seeds import stable_seed as stable_seed  # its home before seeds.py

Explorer = Literal["expert", "noisy_expert", "random", "coverage", "llm"]

# Offline defaults per environment (used when --explorers / --max-steps are not given):
# MiniWoB's scripted expert where a task has a solver, element-by-element coverage
# elsewhere (the env's `expert_fallback`).
# ScienceWorld: whole expert paths (gold paths run to ~150 steps; 40 cut every long task's
# second half out of the data) over variations spread across each task type (the first
# ones repeat one object); chosen on the dev held-out set (benchmarks/retrieval_quality).
ENV_SYNTH_DEFAULTS: dict[str, dict[str, Any]] = {
    "miniwob": {"explorers": ["expert"], "max_steps": 10},
    "scienceworld": {"max_steps": 250, "task_order": "spread"},
}
DEFAULT_EXPLORERS: tuple[Explorer, ...] = ("expert", "noisy_expert")
DEFAULT_MAX_STEPS = 40
TaskSource = Literal["env", "self_instruct"]
Writer = Literal["offline", "llm"]
Kind = Literal["abstract", "summarize"]


class SynthConfig(BaseModel):
    """Everything that decides the output; its hash guards resumption (same config only)."""

    model_config = ConfigDict(extra="forbid")

    env: str
    env_options: dict[str, Any] = Field(default_factory=dict)
    split: str = "train"
    tasks: int = Field(default=50, ge=1, description="tasks after the task stage")
    seed: int = 0
    # 1. tasks
    # left out: "self_instruct" with an `llm`, else "env" (`_defaults`)
    task_source: TaskSource = "env"
    # which env tasks (task_source "env"): the first N, or N spread over each family's
    # variations (synth/task_order.py); left out: the env's default, else "first"
    task_order: TaskOrder = "first"
    tasks_per_document: int = Field(default=3, ge=1)
    # 2. rollouts: every task is rolled out once per explorer, in this order (left out:
    # ["llm"] with an `llm`, else the env's default, else expert + noisy_expert)
    explorers: list[Explorer] = Field(default_factory=lambda: list(DEFAULT_EXPLORERS))
    epsilon: float = Field(default=0.2, ge=0.0, le=1.0)
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1)  # left out: the env's default
    # per-step time limit of the guarded environment (None: what the env declares;
    # envs/run_guard.py); not in the fingerprint: it stops hangs, it does not shape data
    step_timeout_s: float | None = Field(default=None, gt=0)
    # 3. backward construction
    window_min: int = Field(default=1, ge=1)
    window_max: int | None = Field(default=10, ge=1)
    windows_per_trajectory: int | None = Field(default=24, ge=1)
    kinds: list[Kind] = Field(default_factory=lambda: ["abstract", "summarize"])
    writer: Writer = "offline"  # left out: "llm" with an `llm`
    # 4. filters
    repeat_filter: bool = True
    # Off by default: cutting lowered dev hit@5 on ScienceWorld (paired CI below 0) and did
    # not change BabyAI's (benchmarks/retrieval_quality/README.md, "failed-action steps").
    failed_filter: bool = Field(
        default=False, description="cut steps whose action failed (synth/failed_steps.py)"
    )
    env_check: bool = True
    committee: list[str] = Field(default_factory=list, description="LLM specs; unanimous")
    dedup: bool = True
    # LLM used by self-instruct, the llm explorer and the llm writer (spec, for provenance)
    llm: str | None = None
    temperature: float = 0.0
    save_raw: bool = True
    # prompt template overrides of the LLM stages: name (self_instruct_*, rollout_*,
    # relabel_*, committee_*; lbi_icl/prompts) -> the user's template file
    prompts: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Settings left out take the environment's defaults (`ENV_SYNTH_DEFAULTS`) and,
        when an `llm` is named, the LLM stages (self-instruct tasks, the llm explorer, the
        llm writer) — so `SynthConfig(...)` and `lbi synthesize` build the same config."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        env_defaults = ENV_SYNTH_DEFAULTS.get(str(out.get("env")), {})
        with_llm = out.get("llm") is not None
        if out.get("explorers") is None:
            out["explorers"] = (
                ["llm"] if with_llm else env_defaults.get("explorers", list(DEFAULT_EXPLORERS))
            )
        if out.get("max_steps") is None:
            out["max_steps"] = env_defaults.get("max_steps", DEFAULT_MAX_STEPS)
        if out.get("task_source") is None:
            out["task_source"] = "self_instruct" if with_llm else "env"
        if out.get("task_order") is None:
            out["task_order"] = env_defaults.get("task_order", "first")
        if out.get("writer") is None:
            out["writer"] = "llm" if with_llm else "offline"
        return out

    @model_validator(mode="after")
    def _check(self) -> SynthConfig:
        if self.window_max is not None and self.window_max < self.window_min:
            raise ValueError(f"window_max ({self.window_max}) < window_min ({self.window_min})")
        if not self.explorers:
            raise ValueError("explorers: at least one")
        if not self.kinds:
            raise ValueError("kinds: at least one of abstract, summarize")
        usable = names_of("synth")
        for name in self.prompts:
            if name not in usable:
                raise ValueError(f"unknown prompt {name!r}; synthesis uses {', '.join(usable)}")
        return self

    def prompt_set(self) -> PromptSet:
        """Defaults + `prompts`, every file checked (PromptError names file and variable)."""
        return load_prompts(self.prompts)

    def fingerprint(self) -> str:
        """Changes with every setting and with the text of an overridden prompt template
        (without overrides, and with task_order "first", it is what it was before those
        settings existed)."""
        data = self.model_dump(mode="json", exclude={"prompts", "step_timeout_s"})
        if self.task_order == "first":  # what every config was before the setting existed
            del data["task_order"]
        if self.prompts:
            data["prompt_templates"] = self.prompt_set().override_hashes()
        blob = json.dumps(data, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Stage counters, in the order of the paper's Table 1.
COUNT_KEYS: tuple[str, ...] = (
    "documents",
    "tasks",
    "rollouts_attempted",
    "rollouts_skipped",
    "raw_trajectories",
    "raw_steps",
    "windows",
    "examples_backward",
    "dropped_env_check",
    "examples_with_failed_steps",
    "failed_steps_cut",
    "dropped_all_failed",
    "repeat_steps_removed",
    "dropped_committee",
    "dropped_duplicates",
    "examples_final",
)


class SynthReport(BaseModel):
    """What a synthesis produced, stage by stage; saved next to the output as JSON."""

    model_config = ConfigDict(extra="forbid")

    config: SynthConfig
    output: str
    raw_output: str | None = None
    complete: bool = False
    tasks_done: int = 0
    counts: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(COUNT_KEYS, 0))
    by_explorer: dict[str, dict[str, int]] = Field(default_factory=dict)
    by_kind: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)  # why rollouts were skipped
    stages: dict[str, Any] = Field(default_factory=dict)  # which implementation ran each stage
    llm_calls: int = 0
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    llm_cost_usd: float | None = None
    seconds: dict[str, float] = Field(default_factory=dict)  # wall time per stage

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def table_rows(self) -> list[tuple[str, str]]:
        c = self.counts
        raw = max(c.get("raw_trajectories", 0), 1)
        rows = [
            ("documents", str(c.get("documents", 0))),
            ("tasks", str(c.get("tasks", 0))),
            (
                "raw trajectories",
                f"{c.get('raw_trajectories', 0)}  ({c.get('rollouts_skipped', 0)} skipped, "
                f"{c.get('raw_steps', 0)} steps)",
            ),
            ("windows", str(c.get("windows", 0))),
            ("examples after backward construction", str(c.get("examples_backward", 0))),
            ("  - failed the environment check", str(c.get("dropped_env_check", 0))),
            (
                "  - failed-action steps cut (steps)",
                f"{c.get('failed_steps_cut', 0)}  "
                f"(in {c.get('examples_with_failed_steps', 0)} examples)",
            ),
            ("  - only failed actions", str(c.get("dropped_all_failed", 0))),
            ("  - repeated steps removed (steps)", str(c.get("repeat_steps_removed", 0))),
            ("  - rejected by the committee", str(c.get("dropped_committee", 0))),
            ("  - exact duplicates", str(c.get("dropped_duplicates", 0))),
            (
                "examples after filtering",
                f"{c.get('examples_final', 0)}  "
                f"({c.get('examples_final', 0) / raw:.1f} per raw trajectory)",
            ),
        ]
        return rows
