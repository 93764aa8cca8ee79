"""Policies: what turns a rendered step into raw answer text.

- `llm` sends the rendered messages to any backend of the LLM layer.
- `retrieval` is the offline, retrieval-only baseline: no model at all. It votes among the
  environment's valid actions with the *next actions* of the retrieved example windows at
  their matched positions, and falls back to a seeded random valid action. It lets anyone
  run, compare and test retrieval strategies without an LLM; its results are labelled
  `retrieval (offline baseline)`.

Both answer in the same `Reason: ...` / `Action: ...` text, so the loop parses and logs them
identically.
"""

from __future__ import annotations

import difflib
import random
import time
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from lbi_icl.agent.base import DEFAULT_OUTPUT_TOKENS
from lbi_icl.agent.parse import normalize_action
from lbi_icl.data import Step, Task
from lbi_icl.llm.base import LLM, GenerationParams, Message
from lbi_icl.retrieval.base import RetrievalResult, RetrievedItem, StepContext

RETRIEVAL_POLICY_NAME = "retrieval (offline baseline)"


class PolicyInput(BaseModel):
    """Everything a policy may use to answer one step. `seed`, `task_id` and `call` (the
    policy-call index in the episode) let a policy derive per-step randomness without
    keeping episode state, so one policy object can serve concurrent episodes."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    messages: list[Message]
    context: StepContext
    retrieval: RetrievalResult
    valid_actions: list[str] | None = None
    seed: int = 0
    task_id: str | None = None
    call: int = 0
    max_output_tokens: int | None = None  # AgentConfig.max_output_tokens: caps the answer


class PolicyOutput(BaseModel):
    """Raw answer text plus what producing it cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cached: bool = False
    latency_s: float = 0.0
    details: dict[str, object] = Field(default_factory=dict)
    cache_read_tokens: int = 0  # prompt tokens read from the provider's prompt cache
    cache_write_tokens: int = 0  # prompt tokens written to it


@runtime_checkable
class Policy(Protocol):
    """`name` labels results; `kind` is 'llm' or 'retrieval'. `needs_valid_actions` asks the
    loop to query `Env.valid_actions()` every step even when matching is off."""

    name: str
    kind: str
    needs_valid_actions: bool

    def reset(self, task: Task, seed: int) -> None:
        """Start of an episode (the built-in policies keep no episode state)."""
        ...

    def act(self, request: PolicyInput) -> PolicyOutput: ...


class LLMPolicy:
    """Asks an LLM. The episode seed goes into the generation params (and so into the
    response-cache key), making repeated seeds separate samples rather than cache replays."""

    kind = "llm"
    needs_valid_actions = False

    def __init__(self, llm: LLM, *, params: GenerationParams | None = None) -> None:
        self.llm = llm
        self.name = f"llm:{llm.spec}"
        self.params = params or GenerationParams(max_tokens=DEFAULT_OUTPUT_TOKENS)

    def reset(self, task: Task, seed: int) -> None:
        pass

    def act(self, request: PolicyInput) -> PolicyOutput:
        start = time.perf_counter()
        update: dict[str, object] = {"seed": request.seed}
        if request.max_output_tokens is not None:
            update["max_tokens"] = min(self.params.max_tokens, request.max_output_tokens)
        params = self.params.model_copy(update=update)
        resp = self.llm.complete(request.messages, params)
        return PolicyOutput(
            text=resp.text,
            input_tokens=resp.usage.input_tokens,
            output_tokens=resp.usage.output_tokens,
            cost_usd=resp.cost_usd,
            cached=resp.cached,
            latency_s=resp.latency_s or (time.perf_counter() - start),
            details={"model": resp.model, "backend": resp.backend},
            cache_read_tokens=resp.usage.cache_read_tokens,
            cache_write_tokens=resp.usage.cache_write_tokens,
        )


def _tokens(text: str) -> set[str]:
    return set(normalize_action(text).split())


def _overlap(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    if not ta and not tb:
        return 1.0
    return len(ta & tb) / len(ta | tb)


def next_action_of(item: RetrievedItem, ctx: StepContext) -> str | None:
    """The action the example took at its matched position.

    With `matched_step` (observation / model / agentic hits; an index into the example
    trajectory, like `span`) that is the window step at `matched_step - span[0]`; a match
    outside the window (e.g. on the example's final observation) has no next action.
    Without it (instruction-based hits) the policy finds the position itself: the window
    step whose observation shares the most words with the current observation, ties going
    to the step closest to the agent's own step count.
    """
    window: list[Step] = item.window
    if not window:
        return None
    start = item.span[0] if item.span is not None else 0
    if item.matched_step is not None:
        pos = item.matched_step - start
        return window[pos].action if 0 <= pos < len(window) else None
    best = max(
        range(len(window)),
        key=lambda i: (_overlap(window[i].observation, ctx.observation), -abs(i - ctx.step)),
    )
    return window[best].action


class RetrievalPolicy:
    """The retrieval-only baseline (see the module docstring).

    Vote: the example ranked r-th (0-based, in rank order) gives weight `1 / (r + 1)` to
    the valid action its next action names. Names are compared as normalized strings
    (`normalize_action`: case and punctuation ignored); when none is equal, the most similar
    valid action (difflib ratio on normalized strings) receives `weight * ratio` if the
    ratio is at least `min_similarity` (above 1.0: exact normalized matches only). The
    highest total wins; ties go to the action voted first. When nothing is retrieved or
    nothing matches, a random valid action (from the sorted list) is chosen with an RNG
    seeded by (policy seed, episode seed, task id, call index), so results depend neither
    on episode order nor on other episodes in flight. Without a valid-action list the top
    next action is used as written, and with nothing retrieved the policy gives no action
    (the loop counts it unparsable).

    Loop guard (`avoid_repeats`, on by default): actions already taken earlier in this
    episode from an identical observation are left out of the vote and, while untried
    actions remain, out of the random fallback. Otherwise a deterministic policy that
    returns to the same observation repeats itself forever (e.g. walking into a wall).
    """

    kind = "retrieval"
    needs_valid_actions = True

    def __init__(
        self, *, seed: int = 0, min_similarity: float = 0.8, avoid_repeats: bool = True
    ) -> None:
        self.name = RETRIEVAL_POLICY_NAME
        self.seed = seed
        self.min_similarity = min_similarity
        self.avoid_repeats = avoid_repeats

    def tried_here(self, ctx: StepContext) -> set[str]:
        """Normalized actions already taken in this episode from this exact observation."""
        if not self.avoid_repeats:
            return set()
        return {normalize_action(s.action) for s in ctx.history if s.observation == ctx.observation}

    def reset(self, task: Task, seed: int) -> None:
        pass

    def _best_match(self, action: str, by_key: dict[str, str]) -> tuple[str | None, float]:
        key = normalize_action(action)
        if key in by_key:
            return by_key[key], 1.0
        if self.min_similarity > 1.0 or not key:
            return None, 0.0
        close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=self.min_similarity)
        if not close:
            return None, 0.0
        return by_key[close[0]], difflib.SequenceMatcher(None, key, close[0]).ratio()

    def vote(
        self, retrieval: RetrievalResult, ctx: StepContext, valid: list[str] | None
    ) -> dict[str, float]:
        """Action -> total weight, in first-voted order."""
        examples = [it for it in retrieval.items if it.kind == "example" and it.window]
        examples.sort(key=lambda it: it.rank)
        by_key: dict[str, str] = {}
        for candidate in valid or []:
            by_key.setdefault(normalize_action(candidate), candidate)  # first spelling wins
        tried = self.tried_here(ctx)
        totals: dict[str, float] = {}
        for r, item in enumerate(examples):
            nxt = next_action_of(item, ctx)
            if nxt is None or not nxt.strip():
                continue
            weight = 1.0 / (r + 1)
            if valid is None:
                target, sim = nxt.strip(), 1.0
            else:
                target, sim = self._best_match(nxt, by_key)
            if target is not None and normalize_action(target) not in tried:
                totals[target] = totals.get(target, 0.0) + weight * sim
        return totals

    def act(self, request: PolicyInput) -> PolicyOutput:
        start = time.perf_counter()
        valid = request.valid_actions
        totals = self.vote(request.retrieval, request.context, valid)
        if totals:
            action = max(totals, key=lambda a: totals[a])  # max keeps the first of equals
            reason = (
                f"retrieval-only baseline: the retrieved examples vote for this action "
                f"(weight {totals[action]:.3f} of {sum(totals.values()):.3f})."
            )
            how: Literal["vote", "random", "none"] = "vote"
        elif valid:
            rng = random.Random(f"{self.seed}:{request.seed}:{request.task_id}:{request.call}")
            tried = self.tried_here(request.context)
            untried = [a for a in valid if normalize_action(a) not in tried]
            action = rng.choice(sorted(untried or valid))
            reason = "retrieval-only baseline: no retrieved example matched; random valid action."
            how = "random"
        else:
            action, how = "", "none"
            reason = "retrieval-only baseline: nothing retrieved and no valid actions listed."
        text = f"Reason: {reason}\nAction: {action}" if action else f"Reason: {reason}"
        return PolicyOutput(
            text=text,
            cost_usd=0.0,
            latency_s=time.perf_counter() - start,
            details={"choice": how, "votes": {a: round(w, 6) for a, w in totals.items()}},
        )


def make_policy(
    name: Literal["llm", "retrieval"],
    *,
    llm: LLM | None = None,
    seed: int = 0,
    params: GenerationParams | None = None,
    min_similarity: float = 0.8,
    avoid_repeats: bool = True,
) -> Policy:
    """Build a policy by name. `llm` is required for 'llm'; `params` overrides its
    generation settings; `seed`, `min_similarity` and `avoid_repeats` configure the
    retrieval baseline (see `RetrievalPolicy`)."""
    if name == "llm":
        if llm is None:
            raise ValueError("policy 'llm' needs an LLM (e.g. make_llm('openai:gpt-4o'))")
        return LLMPolicy(llm, params=params)
    if name == "retrieval":
        return RetrievalPolicy(
            seed=seed, min_similarity=min_similarity, avoid_repeats=avoid_repeats
        )
    raise ValueError(f"unknown policy {name!r}: expected 'llm' or 'retrieval'")
