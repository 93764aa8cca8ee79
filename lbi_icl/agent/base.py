"""Contract between the agent loop and the runner: episode config, step log, result."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from lbi_icl.data import Trajectory
from lbi_icl.prompts.specs import DEFAULT_LAYOUT, PromptLayout

# The run log's format version (lbi_icl/runner/runlog.py): written into the run manifest and
# into every step-log and episodes.jsonl line. Raise it when a record's meaning changes in a
# way old readers would get wrong, and add the upgrade of the version before to runlog.
FORMAT_VERSION = 1

# The answer's token cap when `AgentConfig.max_output_tokens` is unset: what `LLMPolicy`
# asks the model for, and what prompt fitting (agent/fit.py) reserves out of the context.
DEFAULT_OUTPUT_TOKENS = 512

StopReason = Literal[
    "done", "max_steps", "token_limit", "cost_limit", "wall_time", "unparsable", "error"
]


class AgentConfig(BaseModel):
    """Limits and prompt settings of one episode."""

    model_config = ConfigDict(extra="forbid")

    max_steps: int = Field(30, ge=1)  # policy calls
    max_total_tokens: int | None = None  # policy + query-writer tokens
    max_cost_usd: float | None = None
    max_wall_s: float | None = None
    max_unparsable: int = Field(3, ge=1)  # consecutive unparsable outputs before giving up
    history_steps: int = Field(5, ge=0)  # last N steps shown in the prompt
    observation_chars: int = Field(2000, ge=0)  # history observations cut to this many chars
    log_prompts: bool = True
    # Additions (compatible: all defaulted).
    current_observation_chars: int | None = Field(8000, ge=0)  # the current one's own limit
    list_valid_actions: int = Field(0, ge=0)  # list valid actions in the prompt if <= this
    # When the env lists valid actions, an answer naming none of them is not executed; it
    # counts toward `max_unparsable` like an unparsable answer. False: send it anyway.
    require_valid_action: bool = True
    # Local / small-context models (agent/fit.py): the model's context window in tokens
    # (None: the prompt is not fitted) and the answer's token cap (None:
    # DEFAULT_OUTPUT_TOKENS). Fitting counts tokens with the one estimate
    # (util/tokenizer.estimate_tokens); `chars_per_token` replaces it with
    # ceil(characters / chars_per_token), the estimate runs recorded before used (3.0; 4.0
    # briefly), so that they resume with the same prompts.
    context_tokens: int | None = Field(None, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    chars_per_token: float | None = Field(None, gt=0)
    # Screenshots of envs with a visual observation (web `obs=screenshot|som|axtree+som`)
    # go to the LLM as image parts: "auto" when its model takes images (by name,
    # llm.base.accepts_images), "on" always, "off" never (the text observation instead).
    images: Literal["auto", "on", "off"] = "auto"
    # The user message's layout (lbi_icl/prompts/specs.py): "stable_first" = the objective,
    # then the per-step parts (examples, history, observation), so system + objective are a
    # prefix the provider's prompt cache holds across an episode's steps; "examples_first"
    # = the paper's (retrieved examples before the objective; runs made before this field
    # existed). Picks the packaged agent_user template; a user's own agent_user file wins.
    prompt_layout: PromptLayout = DEFAULT_LAYOUT

    @model_serializer(mode="wrap")
    def _omit_default_images(self, handler: Any) -> Any:
        # left out at its default, so configs (and run fingerprints) made before the
        # field existed read the same
        out = handler(self)
        if self.images == "auto" and isinstance(out, dict):
            out.pop("images", None)
        return out


class StepLog(BaseModel):
    """Everything needed to trace one step back to what the model saw."""

    format_version: int = FORMAT_VERSION  # the run log's (runner/runlog.py)
    step: int
    observation: str
    strategy: str
    queries: dict[str, str] = Field(default_factory=dict)
    retrieved: list[dict[str, Any]] = Field(default_factory=list)  # id, score, strategy
    # what the token budget cut (id, rank, strategy, tokens): retrieved but not prompted
    dropped: list[dict[str, Any]] = Field(default_factory=list)
    prompt_sha256: str
    prompt: list[dict[str, str]] | None = None
    raw_output: str
    action: str | None
    parsed: bool
    next_observation: str | None = None
    reward: float | None = None
    done: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cached: bool = False
    retrieval_s: float = 0.0
    model_s: float = 0.0
    env_s: float = 0.0
    # Additions (compatible: all defaulted).
    reason: str | None = None  # the 'Reason:' part of the answer
    valid: bool | None = None  # action names a listed valid action (None: env lists none)
    executed: bool = False  # the action was sent to the environment
    info: dict[str, Any] = Field(default_factory=dict)  # StepResult.info
    retrieval_llm_s: float = 0.0  # query-writing LLM time (not in retrieval_s)
    retrieval_input_tokens: int = 0  # query-writing LLM tokens (not in input_tokens)
    retrieval_output_tokens: int = 0
    retrieval_cost_usd: float | None = None
    error: str | None = None
    prompt_tokens_est: int | None = None  # estimated prompt tokens (agent/fit.py)
    fit_items_dropped: int = 0  # retrieved items left out so the prompt fits the context
    fit_history_dropped: int = 0  # history steps left out so the prompt fits the context
    # the prompt templates this step's LLM calls were rendered from: name -> sha256 of the
    # template text (lbi_icl/prompts; the run manifest says which file each came from)
    prompt_templates: dict[str, str] = Field(default_factory=dict)
    images: list[str] = Field(default_factory=list)  # screenshots sent with the prompt (paths)
    # the policy call's prompt tokens read from / written to the provider's prompt cache
    # (parts of input_tokens, billed at the cache prices)
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class EpisodeResult(BaseModel):
    """One line of a run's episodes.jsonl."""

    task_id: str
    env: str
    strategy: str
    policy: str
    seed: int
    success: bool
    score: float | None = None
    steps: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cached_calls: int = 0
    duration_s: float = 0.0
    retrieval_s: float = 0.0
    model_s: float = 0.0
    env_s: float = 0.0
    retrieval_latencies_s: list[float] = Field(default_factory=list)
    # Additions (compatible: all defaulted). input/output_tokens above are all tokens of the
    # episode (policy + query writer); these give the query writer's share.
    retrieval_input_tokens: int = 0
    retrieval_output_tokens: int = 0
    policy_calls: int = 0  # loop iterations; `steps` counts actions sent to the env
    parsed_calls: int = 0  # policy answers an action could be parsed from
    valid_calls: int = 0  # parsed answers that name a valid action (or are unchecked)
    retrieval_llm_s: float = 0.0  # query-writing LLM seconds (not in retrieval_s)
    # prompt tokens (policy + query writer) read from / written to the provider's prompt
    # cache: parts of input_tokens, billed at the model's cache prices
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: StopReason
    error: str | None = None
    trajectory: Trajectory | None = None
