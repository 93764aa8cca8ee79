"""The LLM layer: one small protocol (`base.LLM`), backends chosen by a spec string
(`make_llm('openai:gpt-4o-mini')`, `anthropic:…`, `scripted:FILE`), an SQLite response
cache, retries with backoff, a shared rate limit, prompt-cache breakpoints, and
thread-safe usage accounting (cache read / write tokens priced at cache prices).

Importing this package does not import the `openai` or `anthropic` SDKs; a backend
imports its SDK when it is built.
"""

from lbi_icl.llm.base import LLM, GenerationParams, LLMResponse, Message, Usage
from lbi_icl.llm.cache import CacheMode, ResponseCache, cache_key
from lbi_icl.llm.core import LOCAL_PLACEHOLDER_KEY, LLMInfo, describe_llm
from lbi_icl.llm.errors import (
    CacheMissError,
    LLMAuthError,
    LLMConfigError,
    LLMError,
    LLMRequestError,
    LLMUnavailableError,
    ScriptExhaustedError,
)
from lbi_icl.llm.factory import BACKENDS, make_llm, parse_spec
from lbi_icl.llm.pricing import Price, cost_usd, price_for, register_price
from lbi_icl.llm.prompt_cache import CachePrompt
from lbi_icl.llm.ratelimit import RateLimiter, RateLimits
from lbi_icl.llm.scripted import Script, ScriptedLLM, ScriptRule, load_script
from lbi_icl.llm.usage import UsageRow, UsageSnapshot, UsageTotals

__all__ = [
    "BACKENDS",
    "LLM",
    "LOCAL_PLACEHOLDER_KEY",
    "CacheMissError",
    "CacheMode",
    "CachePrompt",
    "GenerationParams",
    "LLMAuthError",
    "LLMConfigError",
    "LLMError",
    "LLMInfo",
    "LLMRequestError",
    "LLMResponse",
    "LLMUnavailableError",
    "Message",
    "Price",
    "RateLimiter",
    "RateLimits",
    "ResponseCache",
    "Script",
    "ScriptExhaustedError",
    "ScriptRule",
    "ScriptedLLM",
    "Usage",
    "UsageRow",
    "UsageSnapshot",
    "UsageTotals",
    "cache_key",
    "cost_usd",
    "describe_llm",
    "load_script",
    "make_llm",
    "parse_spec",
    "price_for",
    "register_price",
]
