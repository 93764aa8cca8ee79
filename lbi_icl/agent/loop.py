"""The agent loop: one episode of observe → retrieve → prompt → policy → parse → act.

Stopping (checked before every policy call, in this order, after `done`):
`max_steps` policy calls, `max_total_tokens` (policy + query-writer tokens), `max_cost_usd`
(known costs only; a warning is logged when a price is unknown), `max_wall_s` (checked
between steps, a running step is not interrupted); after a step, `max_unparsable`
consecutive answers that produced no executable action.

An exception from the environment, the retriever or the policy ends the episode with
stop_reason 'error' and a message naming the task and step; it is never raised out of
`run_episode`. KeyboardInterrupt (and an exception raised by `on_step`) propagate.

Success and score come from `StepResult.info`: `info["success"]` (bool) and `info["score"]`
(float, the benchmark's scale); the last value reported wins. When the environment never
reports `success`, an episode succeeds when it ended `done` with a positive last reward.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from lbi_icl.agent.base import AgentConfig, EpisodeResult, StepLog, StopReason
from lbi_icl.agent.fit import fit_messages
from lbi_icl.agent.metering import EpisodeTotals, Meter, MeteredLLM
from lbi_icl.agent.parse import parse_action
from lbi_icl.agent.policies import Policy, PolicyInput, PolicyOutput
from lbi_icl.agent.prompt import HistoryEntry, messages_as_dicts, prompt_sha256
from lbi_icl.agent.visual import visual_observation, with_images
from lbi_icl.data import Step, Task, Trajectory
from lbi_icl.envs.base import Env, StepResult, episode_task
from lbi_icl.envs.guard import EnvWallTime, GuardedEnv
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import PromptSet, default_prompts, names_of
from lbi_icl.retrieval.base import RetrievalResult, Retriever, StepContext

logger = logging.getLogger(__name__)

T = TypeVar("T")

NOTE_UNPARSABLE = (
    "(your answer could not be parsed, so nothing was done; answer as 'Reason: ...' "
    "then 'Action: ...')"
)


def _note_invalid(action: str) -> str:
    return f"({action!r} is not a valid action here, so nothing was done)"


QUERY_TEMPLATES = list(names_of("query"))  # recorded when an LLM wrote the step's query


class _StepFailure(Exception):
    """Internal: a component failed; the message names task, step and component."""


def _json_safe(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON-serializable part of an env's info dict (step logs are written as JSON)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = value
    return out


class _Episode:
    """State of one episode; `run()` is the loop."""

    def __init__(
        self,
        env: Env,
        task: Task,
        policy: Policy,
        retriever: Retriever,
        config: AgentConfig,
        seed: int,
        retrieval_llm: LLM | None,
        on_step: Callable[[StepLog], None] | None,
        prompts: PromptSet | None = None,
    ) -> None:
        self.env, self.task, self.policy, self.retriever = env, task, policy, retriever
        # the packaged agent_user of the config's layout (step logs record its hash)
        self.prompts = (prompts or default_prompts()).with_layout(config.prompt_layout)
        self.config, self.seed, self.on_step = config, seed, on_step
        self.metered = MeteredLLM(retrieval_llm) if retrieval_llm is not None else None
        self.strategy = str(getattr(retriever, "name", "unknown"))
        self.policy_name = str(getattr(policy, "name", type(policy).__name__))
        self.policy_kind = str(getattr(policy, "kind", "custom"))
        self.env_name = str(getattr(env, "name", task.env))
        self.totals = EpisodeTotals()
        self.executed: list[Step] = []
        self.shown: list[HistoryEntry] = []
        self.observation: str | None = None
        self.done = False
        self.last_reward: float | None = None
        self.success_flag: bool | None = None
        self.score: float | None = None
        self.calls = 0
        self.bad_in_a_row = 0
        self._warned_cost = False
        self._step_index = 0
        self.action_space = ""

    # -- helpers -----------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except Exception as exc:  # KeyboardInterrupt is not an Exception: it propagates
            msg = f"task {self.task.id} step {self._step_index}: {what} failed: "
            raise _StepFailure(f"{msg}{type(exc).__name__}: {exc}") from exc

    def _timed_env(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        try:
            return self._guard(what, fn, *args)
        finally:
            self.totals.env_s += time.perf_counter() - start

    def _limit_reached(self, started: float) -> StopReason | None:
        cfg, tot = self.config, self.totals
        if self.calls >= cfg.max_steps:
            return "max_steps"
        if cfg.max_total_tokens is not None and tot.tokens >= cfg.max_total_tokens:
            return "token_limit"
        if cfg.max_cost_usd is not None:
            if tot.cost_unknown and not self._warned_cost:
                self._warned_cost = True
                logger.warning(
                    "task %s: some LLM prices are unknown; the cost limit counts known costs",
                    self.task.id,
                )
            if tot.cost_usd >= cfg.max_cost_usd:
                return "cost_limit"
        if cfg.max_wall_s is not None and time.monotonic() - started >= cfg.max_wall_s:
            return "wall_time"
        return None

    def _record_result(self, res: StepResult) -> None:
        self.done = res.done
        self.last_reward = res.reward
        if "success" in res.info and res.info["success"] is not None:
            self.success_flag = bool(res.info["success"])
        score = res.info.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            self.score = float(score)

    def _retrieve(self, ctx: StepContext) -> RetrievalResult:
        result = self.retriever.retrieve(ctx, self.metered)
        if not isinstance(result, RetrievalResult):
            raise TypeError(f"retriever returned {type(result).__name__}, not RetrievalResult")
        return result

    def _act(self, request: PolicyInput) -> PolicyOutput:
        out = self.policy.act(request)
        if not isinstance(out, PolicyOutput):
            raise TypeError(f"policy returned {type(out).__name__}, not PolicyOutput")
        return out

    def _valid_actions(self) -> list[str] | None:
        cfg = self.config
        wanted = (
            getattr(self.policy, "needs_valid_actions", False)
            or cfg.require_valid_action
            or cfg.list_valid_actions
        )
        if not wanted:
            return None
        valid = self._timed_env("env.valid_actions", self.env.valid_actions)
        return list(valid) if valid else None  # an empty list cannot be matched against

    # -- one step ----------------------------------------------------------------------
    def _step(self) -> None:
        assert self.observation is not None
        index = self._step_index
        obs = self.observation
        rec: dict[str, Any] = {
            "step": index,
            "observation": obs,
            "strategy": self.strategy,
            "prompt_sha256": "",
            "raw_output": "",
            "action": None,
            "parsed": False,
        }
        try:
            self._step_body(index, obs, rec)
        except _StepFailure as failure:
            rec["error"] = str(failure)
            self._emit(rec)
            raise
        self._emit(rec)

    def _step_body(self, index: int, obs: str, rec: dict[str, Any]) -> None:
        cfg, tot = self.config, self.totals
        ctx = StepContext(
            instruction=self.task.instruction,
            observation=obs,
            history=list(self.executed),
            step=len(self.executed),
            task_id=self.task.id,
            env=self.env_name,
        )
        start = time.perf_counter()
        retrieval: RetrievalResult = self._guard("retrieval", self._retrieve, ctx)
        wall = time.perf_counter() - start
        meter = self.metered.take() if self.metered is not None else Meter()
        retrieval_s = max(0.0, wall - meter.seconds)
        tot.retrieval_s += retrieval_s
        tot.retrieval_llm_s += meter.seconds
        tot.retrieval_latencies_s.append(retrieval_s)
        tot.retrieval_input_tokens += meter.input_tokens
        tot.retrieval_output_tokens += meter.output_tokens
        cost = None if meter.cost_unknown else meter.cost_usd
        tot.add_call(meter, False, cost, calls=meter.calls)
        tot.cached_calls += meter.cached_calls
        rec.update(
            strategy=retrieval.strategy or self.strategy,
            queries=dict(retrieval.queries),
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
                for it in retrieval.items
            ],
            dropped=[
                {"id": it.id, "rank": it.rank, "strategy": it.strategy, "tokens": it.tokens}
                for it in retrieval.dropped
            ],
            retrieval_s=retrieval_s,
            retrieval_llm_s=meter.seconds,
            retrieval_input_tokens=meter.input_tokens,
            retrieval_output_tokens=meter.output_tokens,
            retrieval_cost_usd=(None if meter.cost_unknown or not meter.calls else meter.cost_usd),
        )

        env_before = tot.env_s
        valid = self._valid_actions()
        visual = self._guard("screenshot", visual_observation, self.env, self.policy, cfg)
        fit = self._guard(
            "prompt",
            lambda: fit_messages(
                action_space_text=self.action_space,
                instruction=self.task.instruction,
                observation=visual[0] if visual else obs,
                history=self.shown,
                reference=retrieval.rendered,
                config=cfg,
                env_name=self.env_name,
                valid_actions=valid,
                prompts=self.prompts,
            ),
        )
        messages = fit.messages
        if visual:  # the screenshot(s) go with the current observation, the last message
            messages = self._guard("images", with_images, messages, visual[1])
            rec["images"] = list(visual[1])
        used = list(fit.templates)
        if str(retrieval.queries.get("query_writer", "")).startswith("llm:"):
            used += QUERY_TEMPLATES
        rec.update(
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
                self.task.id,
                index,
                fit.budget,
                fit.items_dropped,
                fit.history_dropped,
            )
        if cfg.log_prompts:
            rec["prompt"] = messages_as_dicts(messages)

        start = time.perf_counter()
        self.calls += 1
        out: PolicyOutput = self._guard(
            "policy",
            self._act,
            PolicyInput(
                messages=messages,
                context=ctx,
                retrieval=retrieval,
                valid_actions=valid,
                seed=self.seed,
                task_id=self.task.id,
                call=index,
                max_output_tokens=cfg.max_output_tokens,
            ),
        )
        model_s = time.perf_counter() - start
        tot.model_s += model_s
        tot.add_call(out, out.cached, out.cost_usd)
        parsed = parse_action(out.text, valid)
        tot.parsed_calls += int(parsed.parsed)
        tot.valid_calls += int(parsed.parsed and parsed.valid is not False)
        logger.info(
            "task %s step %d: parsed=%s valid=%s action=%r (parsed %d/%d so far)",
            self.task.id,
            index,
            parsed.parsed,
            parsed.valid,
            parsed.action,
            tot.parsed_calls,
            self.calls,
        )
        rec.update(
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

        executable = parsed.parsed and not (cfg.require_valid_action and parsed.valid is False)
        if not executable:
            self.bad_in_a_row += 1
            note = NOTE_UNPARSABLE if not parsed.parsed else _note_invalid(parsed.action or "")
            self.shown.append(HistoryEntry(step=index, observation=obs, action=note))
            rec["env_s"] = tot.env_s - env_before
            return
        action = parsed.action or ""
        try:
            res = self._timed_env("env.step", self.env.step, action)
        finally:
            rec["env_s"] = tot.env_s - env_before
        self.bad_in_a_row = 0
        self._record_result(res)
        self.executed.append(
            Step(
                observation=obs,
                action=action,
                thought=parsed.reason,
                reward=float(res.reward),
                info=_json_safe(res.info),
            )
        )
        self.shown.append(HistoryEntry(step=index, observation=obs, action=action))
        self.observation = res.observation
        rec.update(
            executed=True,
            next_observation=res.observation,
            reward=float(res.reward),
            done=res.done,
            info=_json_safe(res.info),
        )

    def _emit(self, rec: dict[str, Any]) -> None:
        log = StepLog(**rec)
        if log.error:
            logger.warning("%s", log.error)
        if self.on_step is not None:
            self.on_step(log)

    # -- the episode -------------------------------------------------------------------
    def run(self) -> EpisodeResult:
        started = time.monotonic()
        stop: StopReason | None = None
        error: str | None = None
        if isinstance(self.env, GuardedEnv) and self.config.max_wall_s is not None:
            self.env.deadline = started + self.config.max_wall_s  # no step outlives the limit
        try:
            self.observation = self._timed_env("env.reset", self.env.reset, self.task)
            # the env's own goal (MiniWoB's utterance) is the instruction from here on
            self.task = self._guard("env.episode_goal", episode_task, self.env, self.task)
            reset = getattr(self.policy, "reset", None)  # optional for custom policies
            if reset is not None:
                self._guard("policy.reset", reset, self.task, self.seed)
            self._guard("retriever.reset", self.retriever.reset, self.task)
            self.action_space = self._guard("env.action_space_text", self.env.action_space_text)
            while True:
                stop = self._limit_reached(started)
                if stop is not None:
                    break
                self._step()
                self._step_index += 1
                if self.done:
                    stop = "done"
                    break
                if self.bad_in_a_row and self.bad_in_a_row >= self.config.max_unparsable:
                    stop = "unparsable"
                    break
        except _StepFailure as failure:
            if isinstance(failure.__cause__, EnvWallTime):  # a step cut at max_wall_s
                stop, error = "wall_time", None
            else:
                stop, error = "error", str(failure)
        finally:
            if isinstance(self.env, GuardedEnv):
                self.env.deadline = None
        assert stop is not None
        return self._result(stop, error, time.monotonic() - started)

    def _success(self, stop: StopReason) -> bool:
        if stop == "error":
            return False
        if self.success_flag is not None:
            return self.success_flag
        return self.done and (self.last_reward or 0.0) > 0

    def _result(self, stop: StopReason, error: str | None, duration: float) -> EpisodeResult:
        tot = self.totals
        success = self._success(stop)
        trajectory = Trajectory(
            id=f"run-{self.env_name}-{self.task.id}-{self.strategy}-{self.policy_kind}-s{self.seed}",
            env=self.env_name,
            instruction=self.task.instruction,
            steps=list(self.executed),
            final_observation=self.observation,
            outcome="success" if success else "failure",
            source={"kind": "agent_run", "task_id": self.task.id},
            split=self.task.split,
            metadata={
                "task_id": self.task.id,
                "strategy": self.strategy,
                "policy": self.policy_name,
                "seed": self.seed,
                "stop_reason": stop,
                "score": self.score,
            },
        )
        return EpisodeResult(
            task_id=self.task.id,
            env=self.env_name,
            strategy=self.strategy,
            policy=self.policy_name,
            seed=self.seed,
            success=success,
            score=self.score,
            steps=len(self.executed),
            input_tokens=tot.input_tokens,
            output_tokens=tot.output_tokens,
            cost_usd=None if tot.cost_unknown else tot.cost_usd,
            cached_calls=tot.cached_calls,
            duration_s=duration,
            retrieval_s=tot.retrieval_s,
            model_s=tot.model_s,
            env_s=tot.env_s,
            retrieval_latencies_s=list(tot.retrieval_latencies_s),
            retrieval_input_tokens=tot.retrieval_input_tokens,
            retrieval_output_tokens=tot.retrieval_output_tokens,
            policy_calls=self.calls,
            parsed_calls=tot.parsed_calls,
            valid_calls=tot.valid_calls,
            retrieval_llm_s=tot.retrieval_llm_s,
            cache_read_tokens=tot.cache_read_tokens,
            cache_write_tokens=tot.cache_write_tokens,
            stop_reason=stop,
            error=error,
            trajectory=trajectory,
        )


def run_episode(
    env: Env,
    task: Task,
    policy: Policy,
    retriever: Retriever,
    *,
    config: AgentConfig,
    seed: int,
    retrieval_llm: LLM | None = None,
    on_step: Callable[[StepLog], None] | None = None,
    prompts: PromptSet | None = None,
) -> EpisodeResult:
    """Run one episode of `task` (see the module docstring for stopping, errors and the
    success convention). The caller owns `env` and closes it. `on_step` receives every
    StepLog as soon as the step ends, including the failing step of an errored episode.
    `prompts`: the prompt templates (default: the packaged ones); pass the same set to
    `make_retriever` so the query writer uses it too."""
    episode = _Episode(env, task, policy, retriever, config, seed, retrieval_llm, on_step, prompts)
    return episode.run()
