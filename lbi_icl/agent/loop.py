"""The agent loop: one episode of observe → retrieve → prompt → policy → parse → act.

Stopping (`limits.py`, checked before every policy call, in this order): `done`,
`max_unparsable` consecutive answers that produced no executable action, `max_steps` policy
calls, `max_total_tokens` (policy + query-writer tokens), `max_cost_usd` (known costs only;
a warning is logged when a price is unknown), `max_wall_s` (between steps; a guarded env
also cuts a running step at it). The bookkeeping (step logs, totals, the result) is
`recorder.py`'s.

An exception from the environment, the retriever or the policy ends the episode with
stop_reason 'error' and a message naming the task and step; it is never raised out of
`run_episode`. KeyboardInterrupt (and an exception raised by `on_step`) propagate.

Success and score come from `StepResult.info`: `info["success"]` (bool) and `info["score"]`
(float, the benchmark's scale); the last value reported wins. When the environment never
reports `success`, an episode succeeds when it ended `done` with a positive last reward.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from lbi_icl.agent.base import AgentConfig, EpisodeResult, StepLog, StopReason
from lbi_icl.agent.fit import FitResult, fit_messages
from lbi_icl.agent.limits import Limits
from lbi_icl.agent.metering import Meter, MeteredLLM
from lbi_icl.agent.parse import parse_action
from lbi_icl.agent.policies import Policy, PolicyInput, PolicyOutput
from lbi_icl.agent.prompt import HistoryEntry
from lbi_icl.agent.recorder import EpisodeRecorder, json_safe
from lbi_icl.agent.visual import visual_observation, with_images
from lbi_icl.data import Step, Task
from lbi_icl.envs.base import Env, episode_task
from lbi_icl.llm.base import LLM
from lbi_icl.prompts import PromptSet, default_prompts
from lbi_icl.retrieval.base import RetrievalResult, Retriever, StepContext

T = TypeVar("T")


class _StepFailure(Exception):
    """Internal: a component failed; the message names task, step and component."""


class _Episode:
    """State of one episode; `run()` is the loop, `_step_body()` one step."""

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
        self.config, self.seed = config, seed
        self.metered = MeteredLLM(retrieval_llm) if retrieval_llm is not None else None
        self.record = EpisodeRecorder(
            task_id=task.id,
            env_name=env.name,
            strategy=retriever.name,
            policy=policy,
            seed=seed,
            prompts=self.prompts,
            log_prompts=config.log_prompts,
            on_step=on_step,
        )
        self.limits = Limits(config, task.id)
        self.executed: list[Step] = []  # the steps sent to the env (the trajectory's)
        self.shown: list[HistoryEntry] = []  # the history the prompt shows, notes included
        self.observation: str | None = None
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
            self.record.env_time(time.perf_counter() - start)

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
        if not (
            self.policy.needs_valid_actions or cfg.require_valid_action or cfg.list_valid_actions
        ):
            return None
        valid = self._timed_env("env.valid_actions", self.env.valid_actions)
        return list(valid) if valid else None  # an empty list cannot be matched against

    def _fit(
        self, obs: str, retrieval: RetrievalResult, valid: list[str] | None, visual: Any
    ) -> FitResult:
        return fit_messages(
            action_space_text=self.action_space,
            instruction=self.task.instruction,
            observation=visual[0] if visual else obs,
            history=self.shown,
            items=retrieval.items,
            observation_chars=retrieval.observation_chars,
            config=self.config,
            env_name=self.record.env_name,
            valid_actions=valid,
            prompts=self.prompts,
        )

    # -- one step ----------------------------------------------------------------------
    def _step(self) -> None:
        assert self.observation is not None
        self.record.begin(self._step_index, self.observation)
        try:
            self._step_body(self._step_index, self.observation)
        except _StepFailure as failure:
            self.record.emit(error=str(failure))
            raise
        self.record.emit()

    def _step_body(self, index: int, obs: str) -> None:
        """observe → retrieve → fit the prompt → act → parse and validate → env.step;
        `self.record` keeps the books of every stage."""
        cfg, record = self.config, self.record
        ctx = StepContext(
            instruction=self.task.instruction,
            observation=obs,
            history=list(self.executed),
            step=len(self.executed),
            task_id=self.task.id,
            env=record.env_name,
        )
        start = time.perf_counter()
        retrieval: RetrievalResult = self._guard("retrieval", self._retrieve, ctx)
        wall = time.perf_counter() - start
        meter = self.metered.take() if self.metered is not None else Meter()
        record.retrieval(retrieval, wall, meter)

        valid = self._valid_actions()
        visual = self._guard("screenshot", visual_observation, self.env, self.policy, cfg)
        fit = self._guard("prompt", self._fit, obs, retrieval, valid, visual)
        messages = fit.messages
        if visual:  # the screenshot(s) go with the current observation, the last message
            messages = self._guard("images", with_images, messages, visual[1])
        record.prompt(fit, messages, retrieval.queries, visual[1] if visual else [])

        start = time.perf_counter()
        record.totals.policy_calls += 1
        request = PolicyInput(
            messages=messages,
            context=ctx,
            retrieval=retrieval,
            valid_actions=valid,
            seed=self.seed,
            task_id=self.task.id,
            call=index,
            max_output_tokens=cfg.max_output_tokens,
        )
        out: PolicyOutput = self._guard("policy", self._act, request)
        model_s = time.perf_counter() - start
        parsed = parse_action(out.text, valid)
        record.answer(out, model_s, parsed)

        executable = parsed.parsed and not (cfg.require_valid_action and parsed.valid is False)
        self.limits.answered(executable)
        if not executable:  # not sent; the history shows a note instead
            note = record.refused(parsed)
            self.shown.append(HistoryEntry(step=index, observation=obs, action=note))
            return
        action = parsed.action or ""
        try:
            res = self._timed_env("env.step", self.env.step, action)
        finally:
            record.env_done()
        record.stepped(res)
        info, reward = json_safe(res.info), float(res.reward)
        self.executed.append(
            Step(observation=obs, action=action, thought=parsed.reason, reward=reward, info=info)
        )
        self.shown.append(HistoryEntry(step=index, observation=obs, action=action))
        self.observation = res.observation

    # -- the episode -------------------------------------------------------------------
    def run(self) -> EpisodeResult:
        stop: StopReason | None = None
        error: str | None = None
        self.limits.arm(self.env)
        try:
            self.observation = self._timed_env("env.reset", self.env.reset, self.task)
            # the env's own goal (MiniWoB's utterance) is the instruction from here on
            self.task = self._guard("env.episode_goal", episode_task, self.env, self.task)
            # optional: a custom policy needs only name, kind, needs_valid_actions and act
            reset = getattr(self.policy, "reset", None)
            if reset is not None:
                self._guard("policy.reset", reset, self.task, self.seed)
            self._guard("retriever.reset", self.retriever.reset, self.task)
            self.action_space = self._guard("env.action_space_text", self.env.action_space_text)
            while True:
                stop = self.limits.stop_reason(self.record.totals, done=self.record.outcome.done)
                if stop is not None:
                    break
                self._step()
                self._step_index += 1
        except _StepFailure as failure:
            if self.limits.cut_by_wall_time(failure):  # a step cut at max_wall_s
                stop, error = "wall_time", None
            else:
                stop, error = "error", str(failure)
        finally:
            self.limits.disarm(self.env)
        assert stop is not None
        return self.record.result(
            task=self.task,
            steps=self.executed,
            final_observation=self.observation,
            stop=stop,
            error=error,
            duration_s=self.limits.elapsed(),
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
