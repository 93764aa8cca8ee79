"""The agent loop's bookkeeping, in one place: each step's log record (`StepLog`), the
episode's running totals (tokens, cost, seconds, retrieval stats, parse counts), the notes
an unexecuted answer leaves in the history, the outcome the env reported, and the
`EpisodeResult` built from all of them. Adding a metric: a field of `EpisodeTotals` (and of
`EpisodeResult`, which the totals fill by name) and the line here that counts it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lbi_icl.agent.base import EpisodeResult, StepLog, StopReason
from lbi_icl.agent.fit import FitResult
from lbi_icl.agent.metering import Meter
from lbi_icl.agent.parse import ParsedAction
from lbi_icl.agent.policies import Policy, PolicyOutput
from lbi_icl.agent.prompt import messages_as_dicts, prompt_sha256
from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.envs.base import StepResult
from lbi_icl.llm.base import Message
from lbi_icl.prompts import PromptSet, names_of
from lbi_icl.retrieval.base import RetrievalResult

logger = logging.getLogger(__name__)

NOTE_UNPARSABLE = (
    "(your answer could not be parsed, so nothing was done; answer as 'Reason: ...' "
    "then 'Action: ...')"
)
QUERY_TEMPLATES = list(names_of("query"))  # recorded when an LLM wrote the step's query


def history_note(parsed: ParsedAction) -> str:
    """What the next prompt's history shows for an answer that was not executed."""
    if not parsed.parsed:
        return NOTE_UNPARSABLE
    action = parsed.action or ""
    return f"({action!r} is not a valid action here, so nothing was done)"


def json_safe(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON-serializable part of an env's info dict (step logs are written as JSON)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = value
    return out


@dataclass
class EpisodeTotals:
    """Running totals of one episode (policy + query writer). Every field but
    `cost_unknown` is an `EpisodeResult` field of the same name (`result_fields`)."""

    input_tokens: int = 0
    output_tokens: int = 0
    retrieval_input_tokens: int = 0
    retrieval_output_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown: bool = False
    cached_calls: int = 0
    retrieval_s: float = 0.0
    retrieval_llm_s: float = 0.0
    model_s: float = 0.0
    env_s: float = 0.0
    policy_calls: int = 0
    parsed_calls: int = 0
    valid_calls: int = 0
    retrieval_latencies_s: list[float] = field(default_factory=list)
    cache_read_tokens: int = 0  # prompt-cache tokens (policy + query writer), part of input
    cache_write_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add_call(self, usage: Any, cached: bool, cost: float | None, *, calls: int = 1) -> None:
        """Count LLM calls' tokens and cost (`usage`: a `PolicyOutput` or a `Meter`)."""
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cache_read_tokens += usage.cache_read_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.cached_calls += int(cached)
        if calls:
            self.add_cost(cost)

    def add_cost(self, cost: float | None) -> None:
        if cost is None:
            self.cost_unknown = True
        else:
            self.cost_usd += cost

    def result_fields(self) -> dict[str, Any]:
        """The totals as `EpisodeResult` fields (cost None when a price was unknown)."""
        out = dataclasses.asdict(self)
        if out.pop("cost_unknown"):
            out["cost_usd"] = None
        return out


@dataclass
class Outcome:
    """What the env reported: the last `done` and reward, `info["success"]` and
    `info["score"]` (the last value reported wins)."""

    done: bool = False
    last_reward: float | None = None
    success_flag: bool | None = None
    score: float | None = None

    def update(self, res: StepResult) -> None:
        self.done, self.last_reward = res.done, res.reward
        if res.info.get("success") is not None:
            self.success_flag = bool(res.info["success"])
        score = res.info.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            self.score = float(score)

    def success(self, stop: StopReason) -> bool:
        """`info["success"]` when reported, else ended `done` with a positive reward."""
        if stop == "error":
            return False
        if self.success_flag is not None:
            return self.success_flag
        return self.done and (self.last_reward or 0.0) > 0


class EpisodeRecorder:
    """Records one episode: `begin` a step, report each stage of it, `emit` its StepLog;
    `result` at the end. Owns the totals and the outcome."""

    def __init__(
        self,
        *,
        task_id: str,
        env_name: str,
        strategy: str,
        policy: Policy,
        seed: int,
        prompts: PromptSet,
        log_prompts: bool,
        on_step: Callable[[StepLog], None] | None,
    ) -> None:
        self.task_id, self.env_name, self.strategy, self.seed = task_id, env_name, strategy, seed
        self.policy_name, self.policy_kind = policy.name, policy.kind
        self.prompts, self.log_prompts, self.on_step = prompts, log_prompts, on_step
        self.totals = EpisodeTotals()
        self.outcome = Outcome()
        self.rec: dict[str, Any] = {}
        self._env_mark = 0.0

    # -- one step ----------------------------------------------------------------------
    def begin(self, index: int, observation: str) -> None:
        self.rec = {
            "step": index,
            "observation": observation,
            "strategy": self.strategy,
            "prompt_sha256": "",
            "raw_output": "",
            "action": None,
            "parsed": False,
        }
        self._env_mark = self.totals.env_s

    def env_time(self, seconds: float) -> None:
        self.totals.env_s += seconds

    def env_done(self) -> None:
        """The step's env seconds (valid actions + step), once it stepped or refused."""
        self.rec["env_s"] = self.totals.env_s - self._env_mark

    def retrieval(self, result: RetrievalResult, wall_s: float, meter: Meter) -> None:
        """Retrieval took `wall_s`, of which `meter.seconds` the query-writing LLM."""
        tot = self.totals
        retrieval_s = max(0.0, wall_s - meter.seconds)
        tot.retrieval_s += retrieval_s
        tot.retrieval_llm_s += meter.seconds
        tot.retrieval_latencies_s.append(retrieval_s)
        tot.retrieval_input_tokens += meter.input_tokens
        tot.retrieval_output_tokens += meter.output_tokens
        tot.add_call(
            meter, False, None if meter.cost_unknown else meter.cost_usd, calls=meter.calls
        )
        tot.cached_calls += meter.cached_calls
        self.rec.update(
            strategy=result.strategy or self.strategy,
            queries=dict(result.queries),
            retrieved=[
                {
                    "id": it.id,
                    "score": it.score,
                    "rank": it.rank,
                    "strategy": it.strategy,
                    "kind": it.kind,
                    "matched_step": it.matched_step,
                    "span": list(it.span) if it.span is not None else None,
                    "query_writer": it.query_writer,
                }
                for it in result.items
            ],
            dropped=[
                {"id": it.id, "rank": it.rank, "strategy": it.strategy, "tokens": it.tokens}
                for it in result.dropped
            ],
            retrieval_s=retrieval_s,
            retrieval_llm_s=meter.seconds,
            retrieval_input_tokens=meter.input_tokens,
            retrieval_output_tokens=meter.output_tokens,
            retrieval_cost_usd=(None if meter.cost_unknown or not meter.calls else meter.cost_usd),
        )

    def prompt(
        self, fit: FitResult, messages: list[Message], queries: dict[str, str], images: list[str]
    ) -> None:
        """The prompt sent: its hash, templates, fitting, screenshots (and itself)."""
        if images:
            self.rec["images"] = list(images)
        used = list(fit.templates)
        if str(queries.get("query_writer", "")).startswith("llm:"):
            used += QUERY_TEMPLATES
        self.rec.update(
            prompt_sha256=prompt_sha256(messages),
            prompt_templates=self.prompts.hashes(sorted(used)),
            prompt_tokens_est=fit.tokens,
            fit_items_dropped=fit.items_dropped,
            fit_history_dropped=fit.history_dropped,
        )
        if fit.items_dropped or fit.history_dropped:
            logger.info(
                "task %s step %d: prompt fitted to %s tokens: %d retrieved item(s) and %d "
                "history step(s) left out",
                self.task_id,
                self.rec["step"],
                fit.budget,
                fit.items_dropped,
                fit.history_dropped,
            )
        if self.log_prompts:
            self.rec["prompt"] = messages_as_dicts(messages)

    def answer(self, out: PolicyOutput, model_s: float, parsed: ParsedAction) -> None:
        """The policy's answer, what it cost, and what was parsed from it."""
        tot = self.totals
        tot.model_s += model_s
        tot.add_call(out, out.cached, out.cost_usd)
        tot.parsed_calls += int(parsed.parsed)
        tot.valid_calls += int(parsed.parsed and parsed.valid is not False)
        logger.info(
            "task %s step %d: parsed=%s valid=%s action=%r (parsed %d/%d so far)",
            self.task_id,
            self.rec["step"],
            parsed.parsed,
            parsed.valid,
            parsed.action,
            tot.parsed_calls,
            tot.policy_calls,
        )
        self.rec.update(
            raw_output=out.text,
            action=parsed.action,
            parsed=parsed.parsed,
            reason=parsed.reason,
            valid=parsed.valid,
            input_tokens=out.input_tokens,
            output_tokens=out.output_tokens,
            cost_usd=out.cost_usd,
            cached=out.cached,
            model_s=model_s,
            cache_read_tokens=out.cache_read_tokens,
            cache_write_tokens=out.cache_write_tokens,
        )

    def refused(self, parsed: ParsedAction) -> str:
        """The answer is not executed; returns the note the history shows instead."""
        self.env_done()
        return history_note(parsed)

    def stepped(self, res: StepResult) -> None:
        """The env stepped: its answer, and what it says about the outcome."""
        self.outcome.update(res)
        self.rec.update(
            executed=True,
            next_observation=res.observation,
            reward=float(res.reward),
            done=res.done,
            info=json_safe(res.info),
        )

    def emit(self, error: str | None = None) -> None:
        """The step's StepLog to the log and `on_step` (`error`: the step failed)."""
        if error is not None:
            self.rec["error"] = error
        log = StepLog(**self.rec)
        if log.error:
            logger.warning("%s", log.error)
        if self.on_step is not None:
            self.on_step(log)

    # -- the episode -------------------------------------------------------------------
    def result(
        self,
        *,
        task: Task,
        steps: list[Step],
        final_observation: str | None,
        stop: StopReason,
        error: str | None,
        duration_s: float,
    ) -> EpisodeResult:
        success = self.outcome.success(stop)
        trajectory = Trajectory(
            id=f"run-{self.env_name}-{task.id}-{self.strategy}-{self.policy_kind}-s{self.seed}",
            env=self.env_name,
            instruction=task.instruction,
            steps=list(steps),
            final_observation=final_observation,
            outcome="success" if success else "failure",
            source={"kind": "agent_run", "task_id": task.id},
            split=task.split,
            metadata={
                "task_id": task.id,
                "strategy": self.strategy,
                "policy": self.policy_name,
                "seed": self.seed,
                "stop_reason": stop,
                "score": self.outcome.score,
            },
        )
        return EpisodeResult(
            task_id=task.id,
            env=self.env_name,
            strategy=self.strategy,
            policy=self.policy_name,
            seed=self.seed,
            success=success,
            score=self.outcome.score,
            steps=len(steps),
            duration_s=duration_s,
            stop_reason=stop,
            error=error,
            trajectory=trajectory,
            **self.totals.result_fields(),
        )
