"""`CountedLLM`: the synthesis stages' LLM, counted into the report (calls, tokens, cost)."""

from __future__ import annotations

from lbi_icl.llm.base import LLM, GenerationParams, LLMResponse, Message
from lbi_icl.synth.config import SynthReport


class CountedLLM:
    """Passes calls through and adds their usage to the report."""

    def __init__(self, inner: LLM, report: SynthReport):
        self.inner = inner
        self.spec = inner.spec
        self._report = report

    def complete(
        self, messages: list[Message], params: GenerationParams | None = None
    ) -> LLMResponse:
        resp = self.inner.complete(messages, params)
        r = self._report
        r.llm_calls += 1
        r.llm_input_tokens += resp.usage.input_tokens
        r.llm_output_tokens += resp.usage.output_tokens
        if resp.cost_usd is not None:
            r.llm_cost_usd = (r.llm_cost_usd or 0.0) + resp.cost_usd
        return resp
