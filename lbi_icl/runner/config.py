"""`RunConfig`: everything that defines an experiment, loadable from YAML/TOML with
command-line overrides on top (flags win over the file, the file wins over defaults).

Configuration is data: the validated config is written into the run's manifest.json so a
run can be reproduced and resumed. It never holds secrets; API keys come from env vars.

`prompts: {NAME: FILE}` replaces packaged prompt templates (lbi_icl/prompts) with the
user's files; a relative FILE in a config file is relative to that file's folder (on the
command line, `--set prompts.NAME=FILE`, to the working directory). Every file is checked
when the config is built: unknown name, missing file or an unknown `$variable` is a
ConfigError naming the file.

`check_config` is the one entry point for checking a config before any episode: everything
that needs only the config (templates, retrieval options, the budget's prices), called by
`run_experiment`, which the CLI and the library both use (configs built in code get the
same checks as `lbi run`). What needs more than the config (the run directory, the env's
task list, a reachable LLM) is checked by `runner/plan.py` and `runner/precheck.py` once
the run starts.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lbi_icl.agent.base import AgentConfig
from lbi_icl.prompts.specs import LEGACY_LAYOUT
from lbi_icl.retrieval.strategies import STRATEGIES
from lbi_icl.runner.results import LLM_CACHE

if TYPE_CHECKING:
    from lbi_icl.prompts import PromptSet

KNOWN_STRATEGIES: tuple[str, ...] = STRATEGIES  # lbi_icl/retrieval/strategies.py


class ConfigError(ValueError):
    """A config file or flag is wrong; the message names the file and the field."""


class RunConfig(BaseModel):
    """One experiment: tasks x seeds x strategies, with one policy and one index."""

    model_config = ConfigDict(extra="forbid")

    env: str = Field(min_length=1)
    env_options: dict[str, Any] = Field(default_factory=dict)
    split: str = "test"
    tasks: int | None = Field(default=None, ge=1, description="first N tasks of the split")
    task_ids: list[str] | None = None
    policy: Literal["llm", "retrieval"] = "retrieval"
    llm: str | None = None
    llm_base_url: str | None = None
    llm_cache: Path | None = None  # default: <out>/llm_cache.sqlite (shared by strategies)
    llm_cache_mode: Literal["rw", "off", "replay"] = "rw"
    retrieval_llm: str | None = None  # query writer for model/agentic; default: `llm`
    strategies: list[str] = Field(default_factory=lambda: ["none"], min_length=1)
    retrieval: dict[str, Any] = Field(default_factory=dict)  # RetrievalConfig fields
    index: Path | None = None
    # embed queries with this embedder spec instead of the index's own (e.g. minilm-openvino
    # on a torch-built index); it must be declared compatible with the index's (checked at
    # load). Not in the fingerprint: compatible backends give the same vectors (cos >= 0.99).
    query_embedder: str | None = None
    out: Path
    workers: int = Field(default=1, ge=1)
    parallel: Literal["thread", "process"] = "thread"
    # where workers run: this machine ("local": `parallel`) or Ray actors ("ray", the [ray]
    # extra); ray_address: a cluster (else RAY_ADDRESS, else a local Ray instance)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    seeds: int = Field(default=1, ge=1)
    seed: int = 0
    agent: AgentConfig = Field(default_factory=AgentConfig)
    # per-step time limit of the guarded environment (None: what the env declares;
    # envs/run_guard.py). Not in the fingerprint: it stops hangs, not what an episode does.
    step_timeout_s: float | None = Field(default=None, gt=0)
    retry_errors: bool = False
    # stop when the first N episodes of a session all fail with the same error (0: never)
    fail_fast: int = Field(default=3, ge=0)
    # prompt template overrides: name (lbi_icl.prompts.PROMPTS) -> the user's template file
    prompts: dict[str, Path] = Field(default_factory=dict)
    # hosted models (docs/llm.md, "Hosted models"): prompt-cache breakpoints, the model's
    # shared rate limit (requests / tokens per minute, split across worker processes and Ray
    # actors) and the run's budget (runner/budget.py). Not in the fingerprint: they change
    # what a run costs and how fast it goes, not what an episode does.
    llm_cache_prompt: Literal["auto", "on", "off"] = "auto"
    llm_rpm: float | None = Field(default=None, gt=0)
    llm_tpm: float | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shortcuts(cls, data: Any) -> Any:
        """Accept the flat spellings users type: `max_steps`, `retrieval: rag`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "max_steps" in data:
            agent = dict(data.get("agent") or {})
            agent["max_steps"] = data.pop("max_steps")
            data["agent"] = agent
        if isinstance(data.get("retrieval"), str):
            data["strategies"] = [data.pop("retrieval")]
        if isinstance(data.get("strategies"), str):
            data["strategies"] = [s.strip() for s in data["strategies"].split(",") if s.strip()]
        return data

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in KNOWN_STRATEGIES]
        if bad:
            known = ", ".join(KNOWN_STRATEGIES)
            raise ValueError(f"unknown strategy {bad[0]!r}; choose from {known}")
        if len(set(v)) != len(v):
            raise ValueError("a strategy is listed twice")
        return v

    @field_validator("prompts")
    @classmethod
    def _known_prompts(cls, v: dict[str, Path]) -> dict[str, Path]:
        from lbi_icl.prompts import PROMPTS, names_of

        usable = names_of("agent", "query")
        for name in v:
            if name not in usable:
                hint = (
                    f" ({name!r} is a synthesis prompt: lbi synthesize --prompt {name}=FILE)"
                    if name in PROMPTS
                    else ""
                )
                raise ValueError(f"unknown prompt {name!r}; a run uses {', '.join(usable)}{hint}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        if self.policy == "llm" and not self.llm:
            raise ValueError("policy 'llm' needs an LLM spec (llm: openai:MODEL | scripted:FILE)")
        if self.tasks is not None and self.task_ids is not None:
            raise ValueError("give either tasks (first N) or task_ids, not both")
        if any(s != "none" for s in self.strategies) and self.index is None:
            raise ValueError("strategies other than 'none' need an index directory (index: DIR)")
        return self

    # ------------------------------------------------------------------ helpers
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def cache_path(self) -> Path:
        return self.llm_cache if self.llm_cache is not None else self.out / LLM_CACHE

    def query_writer_spec(self) -> str | None:
        return self.retrieval_llm or (self.llm if self.policy == "llm" else None)

    def prompt_set(self) -> PromptSet:
        """The run's prompt templates (the defaults of `agent.prompt_layout` + `prompts`),
        each file checked now."""
        from lbi_icl.prompts import PromptError, load_prompts

        try:
            return load_prompts(self.prompts, layout=self.agent.prompt_layout)
        except PromptError as e:
            raise ConfigError(str(e)) from e

    def fingerprint(self) -> dict[str, Any]:
        """The settings that change what an episode does. A resumed run must match them,
        otherwise old and new episodes would be silently mixed in one table. Overridden
        prompt templates count by their text's sha256 (not by path), so editing a template
        file changes the fingerprint; without overrides the key is absent (as before)."""
        fp = self._settings_fingerprint()
        if self.prompts:
            fp["prompts"] = self.prompt_set().override_hashes()
        return fp

    @staticmethod
    def upgrade_fingerprint(fp: dict[str, Any]) -> dict[str, Any]:
        """A recorded fingerprint with the values of settings added since it was written:
        a run made before `agent.prompt_layout` existed used the paper's layout. Without
        `agent.context_tokens` nothing is fitted, so `agent.chars_per_token` changes no
        episode: a run recorded with a value (the default was 3.0, then 4.0, now none: the
        one estimate) resumes."""
        agent = fp.get("agent")
        if isinstance(agent, dict) and "prompt_layout" not in agent:
            fp = {**fp, "agent": {**agent, "prompt_layout": LEGACY_LAYOUT}}
        agent = fp.get("agent")
        if (
            isinstance(agent, dict)
            and agent.get("context_tokens") is None
            and "chars_per_token" in agent
        ):
            cpt = AgentConfig.model_fields["chars_per_token"].default
            fp = {**fp, "agent": {**agent, "chars_per_token": cpt}}
        return fp

    def _settings_fingerprint(self) -> dict[str, Any]:
        return json.loads(
            self.model_dump_json(
                include={
                    "env",
                    "env_options",
                    "split",
                    "policy",
                    "llm",
                    "retrieval_llm",
                    "retrieval",
                    "agent",
                }
            )
        )


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) config into a plain dict (safe loaders only)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    if not p.is_file():
        raise ConfigError(f"{p}: not a file (expected a .yaml, .yml, .toml or .json config)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read the config ({e})") from e
    suffix = p.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{p}: config must be .yaml, .yml, .toml or .json")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: cannot parse: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of settings at the top level")
    # A file may nest everything under [run] (TOML style).
    if set(data) == {"run"} and isinstance(data["run"], dict):
        data = data["run"]
    return data


def _set_dotted(target: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur = target
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {} if nxt is None else dict(nxt) if isinstance(nxt, Mapping) else {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


def build_config(
    file: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> RunConfig:
    """File settings, then overrides (dotted keys like `agent.max_steps`; None = not given)."""
    data: dict[str, Any] = load_config_file(file) if file is not None else {}
    if file is not None:
        _resolve_prompt_paths(data, Path(file))
    # Flat spellings in the file are normalised before flags land on top of them.
    if "max_steps" in data:
        _set_dotted(data, "agent.max_steps", data.pop("max_steps"))
    if isinstance(data.get("retrieval"), str):
        data["strategies"] = [data.pop("retrieval")]
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "max_steps":
            key = "agent.max_steps"
        if key in ("tasks", "task_ids") and value is not None:
            data.pop("task_ids" if key == "tasks" else "tasks", None)
        _set_dotted(data, key, value)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as e:
        where = str(file) if file is not None else "command line"
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "(config)"
            lines.append(f"{where}: field '{loc}': {err['msg']}")
        raise ConfigError("\n".join(lines)) from e
    try:  # template files checked here too, to name the file the setting came from
        config.prompt_set()
    except ConfigError as e:
        where = str(file) if file is not None else "command line"
        raise ConfigError(f"{where}: field 'prompts': {e}") from e
    return config


def check_config(config: RunConfig) -> None:
    """Every check of `config` that needs nothing else, each a one-line `ConfigError`:
    prompt template files (read and checked), retrieval options, a cost budget's prices.
    `run_experiment` calls it before anything else, for the CLI and the library alike."""
    config.prompt_set()
    check_retrieval_options(config)
    check_budget_prices(config)


# Retrieval options each strategy reads: a value below 1 leaves it nothing to retrieve.
_STRATEGY_USES: dict[str, tuple[str, ...]] = {
    "observation": ("m1",),
    "model": ("m2",),
    "agentic": ("m1", "m2"),
    "instruction": ("k_instruction",),
    "rag": ("rag_max_docs",),
}


def check_retrieval_options(config: RunConfig) -> None:
    """`retrieval:` holds valid `RetrievalConfig` fields, and none leaves a configured
    strategy with nothing to retrieve."""
    from lbi_icl.retrieval import RetrievalConfig

    try:
        rcfg = RetrievalConfig(**config.retrieval)
    except ValidationError as e:
        errs = "; ".join(
            f"retrieval.{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        keys = ", ".join(RetrievalConfig.model_fields)
        raise ConfigError(f"bad retrieval option: {errs} (valid keys: {keys})") from e
    for strategy in config.strategies:
        for key in _STRATEGY_USES.get(strategy, ()):
            if getattr(rcfg, key) < 1:
                raise ConfigError(
                    f"retrieval.{key}={getattr(rcfg, key)} leaves strategy {strategy!r} with "
                    "nothing to retrieve; use a value >= 1 or leave the strategy out"
                )


def check_budget_prices(config: RunConfig) -> None:
    """A cost budget needs a price for every model the run calls (runner/budget.py counts
    the records' cost against it)."""
    if config.max_cost_usd is None:
        return
    from lbi_icl.llm import parse_spec, price_for

    specs = {config.llm if config.policy == "llm" else None, config.query_writer_spec()}
    for spec in sorted(s for s in specs if s):
        backend, model = parse_spec(spec)
        if backend != "scripted" and price_for(model) is None:
            raise ConfigError(
                f"--max-cost needs the price of {spec}, which the price table does not "
                "know (lbi_icl.llm.register_price), or a --max-tokens budget instead"
            )


def _resolve_prompt_paths(data: dict[str, Any], file: Path) -> None:
    """A config file's relative prompt paths are relative to the file's folder."""
    prompts = data.get("prompts")
    if prompts is None:
        return
    if not isinstance(prompts, dict):
        raise ConfigError(f"{file}: field 'prompts': expected a mapping of NAME: FILE")
    for name, value in prompts.items():
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError(f"{file}: field 'prompts.{name}': expected a template file path")
        path = Path(value).expanduser()
        prompts[name] = path if path.is_absolute() else (file.parent / path).resolve()
