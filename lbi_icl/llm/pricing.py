"""Prices (USD per 1M tokens) for a few well-known models, so runs can report a cost.

The table is small on purpose and dated: prices change, and an unknown model is not an
error — its cost is simply None. Add or override entries with `register_price`.
"""

from __future__ import annotations

import re
import threading

from pydantic import BaseModel, ConfigDict

from lbi_icl.llm.base import Usage

PRICES_AS_OF = "2025-06"


class Price(BaseModel):
    model_config = ConfigDict(frozen=True)

    input_per_m: float
    output_per_m: float


_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o": Price(input_per_m=2.50, output_per_m=10.00),
    "gpt-4o-mini": Price(input_per_m=0.15, output_per_m=0.60),
    "gpt-4.1": Price(input_per_m=2.00, output_per_m=8.00),
    "gpt-4.1-mini": Price(input_per_m=0.40, output_per_m=1.60),
    "gpt-4.1-nano": Price(input_per_m=0.10, output_per_m=0.40),
    "gpt-4-turbo": Price(input_per_m=10.00, output_per_m=30.00),
    "gpt-3.5-turbo": Price(input_per_m=0.50, output_per_m=1.50),
    "o3-mini": Price(input_per_m=1.10, output_per_m=4.40),
    "o4-mini": Price(input_per_m=1.10, output_per_m=4.40),
    # Anthropic
    "claude-3-5-sonnet": Price(input_per_m=3.00, output_per_m=15.00),
    "claude-3-7-sonnet": Price(input_per_m=3.00, output_per_m=15.00),
    "claude-sonnet-4": Price(input_per_m=3.00, output_per_m=15.00),
    "claude-3-5-haiku": Price(input_per_m=0.80, output_per_m=4.00),
    "claude-3-haiku": Price(input_per_m=0.25, output_per_m=1.25),
    "claude-3-opus": Price(input_per_m=15.00, output_per_m=75.00),
    "claude-opus-4": Price(input_per_m=15.00, output_per_m=75.00),
}
_LOCK = threading.Lock()

# A dated or '-latest' variant of a listed model has the listed model's price:
# gpt-4o-2024-08-06, claude-3-5-sonnet-20241022, claude-3-5-haiku-latest.
_VARIANT = re.compile(r"^(?P<base>.+?)(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")


def register_price(model: str, *, input_per_m: float, output_per_m: float) -> None:
    """Add or replace the price of `model` (USD per 1M input / output tokens)."""
    if input_per_m < 0 or output_per_m < 0:
        raise ValueError("prices must be >= 0")
    with _LOCK:
        _PRICES[model] = Price(input_per_m=input_per_m, output_per_m=output_per_m)


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
    """Dollar cost of one call, or None when the model's price is unknown."""
    price = price_for(model)
    if price is None:
        return None
    return (
        usage.input_tokens * price.input_per_m + usage.output_tokens * price.output_per_m
    ) / 1_000_000
