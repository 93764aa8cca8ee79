"""The hosted-model flags of `lbi run` / `lbi ablate` (docs/llm.md, "Hosted models"):
prompt-cache breakpoints, the model's shared rate limit and the run's budget, and the
`RunConfig` keys they set."""

from __future__ import annotations

import argparse
from typing import Any


def add_hosted_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llm-cache-prompt",
        choices=["auto", "on", "off"],
        help="mark the prompt's stable prefix for the provider's prompt cache (Anthropic "
        "cache_control; OpenAI prompt_cache_key, sent to api.openai.com only unless on)",
    )
    p.add_argument(
        "--rpm",
        type=float,
        help="requests per minute to the model, shared by all workers (split across "
        "processes / Ray actors); default: no limit",
    )
    p.add_argument("--tpm", type=float, help="tokens per minute to the model, shared likewise")
    p.add_argument(
        "--max-cost",
        type=float,
        metavar="USD",
        help="run budget: no new episode starts once the run has spent this (episodes in "
        "flight finish; exit 5; rerun with a higher budget to resume)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        help="run budget in tokens (input + output, all episodes), like --max-cost",
    )


def hosted_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The flags as `RunConfig` overrides (None: not given)."""
    return {
        "llm_cache_prompt": args.llm_cache_prompt,
        "llm_rpm": args.rpm,
        "llm_tpm": args.tpm,
        "max_cost_usd": args.max_cost,
        "max_tokens": args.max_tokens,
    }
