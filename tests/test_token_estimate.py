"""The one token estimate (util/tokenizer.estimate_tokens) against a real tokenizer:
tests/fixtures/token_counts.json holds 30 texts (6 each of BabyAI, ScienceWorld, MiniWoB and
desktop prompts / observations and swe statements, patches and docs) with their token counts
by Qwen2.5-Coder-1.5B-Instruct's tokenizer, recorded once offline
(`python benchmarks/llm/fit_tokens.py --count-texts tests/fixtures/token_counts.json`).

Bounds per source, as estimate / real: never under on the environments whose prompts are
fitted to a local model's context (BabyAI, ScienceWorld, desktop), so a prompt fitted to a
budget stays within it; a little under on web pages (rare words split into several tokens);
over on code. The whole corpus these were drawn from (1,760 texts) is in docs/agent.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lbi_icl.util.tokenizer import CHARS_PER_TOKEN, estimate_tokens

FIXTURE = Path(__file__).parent / "fixtures" / "token_counts.json"
TEXTS = json.loads(FIXTURE.read_text(encoding="utf-8"))["texts"]

BOUNDS = {  # estimate / real tokens, per text
    "babyai": (1.0, 1.10),
    "scienceworld": (1.0, 1.10),
    "desktop": (1.0, 1.10),
    "miniwob": (0.90, 1.10),
    "swe": (0.95, 1.25),
}


@pytest.mark.parametrize("source", sorted(BOUNDS))
def test_estimate_within_bounds_of_the_real_tokenizer(source: str) -> None:
    low, high = BOUNDS[source]
    recs = [r for r in TEXTS if r["source"] == source]
    assert len(recs) == 6
    for r in recs:
        ratio = estimate_tokens(r["text"]) / r["tokens"]
        assert low <= ratio <= high, (source, round(ratio, 3), r["text"][:80])


def test_chars_per_token_floor_and_override() -> None:
    long_words = "antidisestablishmentarianism " * 10  # few pieces: the floor rules
    assert estimate_tokens(long_words) == math.ceil(len(long_words) / CHARS_PER_TOKEN)
    table = "(0, 19) (39, 25) " * 10  # dense: the pieces rule, well above chars / 4
    assert estimate_tokens(table) == 15 * 10 > len(table) / CHARS_PER_TOKEN
    assert estimate_tokens(table, 3.0) == math.ceil(len(table) / 3.0)  # a run's own ratio
