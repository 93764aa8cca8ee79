"""(in the browser worker) WebArena's LLM-judged answers through the run's own LLM.

WebArena's `string_match` evaluator judges `fuzzy_match` references (and the reasons of
"N/A" answers) by asking an OpenAI model (`helper_functions.llm_fuzzy_match` /
`llm_ua_match` -> `generate_from_openai_chat_completion`). `install_judge` points that one
call at an `lbi_icl.llm` backend instead (any spec: `openai:`, `anthropic:`, a local
OpenAI-compatible server), keeping WebArena's own grading prompt and decision rule; the
judge's spec and calls are reported with the step (`judge_calls`).
"""

from __future__ import annotations

from typing import Any

_STATE: dict[str, Any] = {"spec": None, "calls": 0}


def install_judge(judge: dict[str, Any]) -> None:
    from webarena.evaluation_harness import helper_functions

    from lbi_icl.llm import GenerationParams, Message, make_llm

    llm = make_llm(str(judge["spec"]), base_url=judge.get("base_url"))

    def generate(
        model: str,
        messages: list[dict[str, Any]],
        temperature: float,
        max_tokens: int,
        top_p: float = 1.0,
        context_length: int = 0,
        stop_token: str | None = None,
    ) -> str:
        _STATE["calls"] += 1
        msgs = [Message(role=m["role"], content=str(m["content"])) for m in messages]
        params = GenerationParams(temperature=temperature, max_tokens=max_tokens)
        return llm.complete(msgs, params).text

    helper_functions.generate_from_openai_chat_completion = generate  # type: ignore[attr-defined]
    _STATE["spec"] = str(judge["spec"])


def installed() -> bool:
    return _STATE["spec"] is not None


def take_calls() -> dict[str, Any] | None:
    """{"spec", "calls"} of the judge calls since the last take, or None if there were none."""
    if not _STATE["calls"]:
        return None
    out = {"spec": _STATE["spec"], "calls": _STATE["calls"]}
    _STATE["calls"] = 0
    return out
