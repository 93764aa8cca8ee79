"""The agent: the step loop, prompt rendering, action parsing and the two policies."""

from lbi_icl.agent.base import AgentConfig, EpisodeResult, StepLog
from lbi_icl.agent.loop import run_episode
from lbi_icl.agent.parse import ParsedAction, normalize_action, parse_action
from lbi_icl.agent.policies import (
    RETRIEVAL_POLICY_NAME,
    LLMPolicy,
    Policy,
    PolicyInput,
    PolicyOutput,
    RetrievalPolicy,
    make_policy,
)
from lbi_icl.agent.prompt import render_messages

__all__ = [
    "RETRIEVAL_POLICY_NAME",
    "AgentConfig",
    "EpisodeResult",
    "LLMPolicy",
    "ParsedAction",
    "Policy",
    "PolicyInput",
    "PolicyOutput",
    "RetrievalPolicy",
    "StepLog",
    "make_policy",
    "normalize_action",
    "parse_action",
    "render_messages",
    "run_episode",
]
