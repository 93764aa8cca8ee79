"""Prices (USD per 1M tokens) for a few well-known models, so runs can report a cost.

The table is small on purpose and dated: prices change, and an unknown model is not an
error — its cost is simply None. Add or override entries with `register_price`.

Prompt-cache prices (a call's `Usage.cache_read_tokens` / `cache_write_tokens`):

- Anthropic (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching, "Pricing";
  https://www.anthropic.com/pricing): a cache write with the default 5-minute TTL costs
  1.25x the model's input price, a cache read 0.1x. `lbi` only sends 5-minute breakpoints.
- OpenAI (https://platform.openai.com/docs/guides/prompt-caching;
  https://openai.com/api/pricing, "Cached input"): caching is automatic for prompts of 1024
  tokens or more, writes cost nothing extra, cached input has a per-model price (50% off for
  the gpt-4o family and o3-mini, 75% off for gpt-4.1 and o4-mini, 90% off for gpt-5).
  Models without a listed cached price (gpt-4-turbo, gpt-3.5-turbo) bill cached tokens at
  the input price.
"""

from __future__ import annotations

import re
import threading

from pydantic import BaseModel, ConfigDict

from lbi_icl.llm.base import Usage

PRICES_AS_OF = "2025-10"
ANTHROPIC_CACHE_WRITE = 1.25  # x input price, 5-minute TTL
ANTHROPIC_CACHE_READ = 0.10  # x input price


class Price(BaseModel):
    """USD per 1M tokens. A cache price of None means "billed as plain input"."""

    model_config = ConfigDict(frozen=True)

    input_per_m: float
    output_per_m: float
    cache_read_per_m: float | None = None
    cache_write_per_m: float | None = None

    def read_per_m(self) -> float:
        return self.input_per_m if self.cache_read_per_m is None else self.cache_read_per_m

    def write_per_m(self) -> float:
        return self.input_per_m if self.cache_write_per_m is None else self.cache_write_per_m


def _openai(inp: float, out: float, cached: float | None = None) -> Price:
    return Price(input_per_m=inp, output_per_m=out, cache_read_per_m=cached)


def _anthropic(inp: float, out: float) -> Price:
    return Price(
        input_per_m=inp,
        output_per_m=out,
        cache_read_per_m=round(inp * ANTHROPIC_CACHE_READ, 6),
        cache_write_per_m=round(inp * ANTHROPIC_CACHE_WRITE, 6),
    )


_PRICES: dict[str, Price] = {
    # OpenAI: input, output, cached input (openai.com/api/pricing)
    "gpt-4o": _openai(2.50, 10.00, 1.25),
    "gpt-4o-mini": _openai(0.15, 0.60, 0.075),
    "gpt-4.1": _openai(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _openai(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _openai(0.10, 0.40, 0.025),
    "gpt-5": _openai(1.25, 10.00, 0.125),
    "gpt-5-mini": _openai(0.25, 2.00, 0.025),
    "gpt-5-nano": _openai(0.05, 0.40, 0.005),
    "gpt-4-turbo": _openai(10.00, 30.00),
    "gpt-3.5-turbo": _openai(0.50, 1.50),
    "o3-mini": _openai(1.10, 4.40, 0.55),
    "o4-mini": _openai(1.10, 4.40, 0.275),
    # Anthropic: input, output; cache write 1.25x / read 0.1x input (anthropic.com/pricing)
    "claude-3-5-sonnet": _anthropic(3.00, 15.00),
    "claude-3-7-sonnet": _anthropic(3.00, 15.00),
    "claude-sonnet-4": _anthropic(3.00, 15.00),
    "claude-sonnet-4-5": _anthropic(3.00, 15.00),
    "claude-3-5-haiku": _anthropic(0.80, 4.00),
    "claude-haiku-4-5": _anthropic(1.00, 5.00),
    "claude-3-haiku": _anthropic(0.25, 1.25),
    "claude-3-opus": _anthropic(15.00, 75.00),
    "claude-opus-4": _anthropic(15.00, 75.00),
    "claude-opus-4-1": _anthropic(15.00, 75.00),
}
_LOCK = threading.Lock()

# A dated or '-latest' variant of a listed model has the listed model's price:
# gpt-4o-2024-08-06, claude-3-5-sonnet-20241022, claude-3-5-haiku-latest.
_VARIANT = re.compile(r"^(?P<base>.+?)(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")


def register_price(
    model: str,
    *,
    input_per_m: float,
    output_per_m: float,
    cache_read_per_m: float | None = None,
    cache_write_per_m: float | None = None,
) -> None:
    """Add or replace the price of `model` (USD per 1M input / output tokens; cache reads
    and writes default to the input price)."""
    values = (input_per_m, output_per_m, cache_read_per_m or 0.0, cache_write_per_m or 0.0)
    if any(v < 0 for v in values):
        raise ValueError("prices must be >= 0")
    with _LOCK:
        _PRICES[model] = Price(
            input_per_m=input_per_m,
            output_per_m=output_per_m,
            cache_read_per_m=cache_read_per_m,
            cache_write_per_m=cache_write_per_m,
        )


def price_for(model: str) -> Price | None:
    """The price of `model` (provider prefixes like 'openai/' are ignored), or None."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    with _LOCK:
        if name in _PRICES:
            return _PRICES[name]
        m = _VARIANT.match(name)
        if m and m.group("base") in _PRICES:
            return _PRICES[m.group("base")]
    return None


def cost_usd(model: str, usage: Usage) -> float | None:
    """Dollar cost of one call, or None when the model's price is unknown: plain input,
    cache reads and cache writes each at their own price, plus output."""
    price = price_for(model)
    if price is None:
        return None
    return (
        usage.uncached_input_tokens * price.input_per_m
        + usage.cache_read_tokens * price.read_per_m()
        + usage.cache_write_tokens * price.write_per_m()
        + usage.output_tokens * price.output_per_m
    ) / 1_000_000
