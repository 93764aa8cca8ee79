"""The one tokenizer shared by every BM25 index and every BM25 query (and `HashEmbedder`).

Rule (documented in the README): lowercase, split into runs of ASCII letters and digits
(`[a-z0-9]+`; punctuation and other characters separate tokens), drop a short fixed list of
English stopwords. No stemming: environment observations are short and exact object names
("red ball", "sink3") matter more than morphology. Numbers are kept ("3 steps").
"""

from __future__ import annotations

import re

TOKENIZER_ID = "lbi-words-v1"

_WORD = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "with",
        "for",
        "from",
        "by",
        "as",
        "you",
        "your",
        "i",
        "we",
        "he",
        "she",
        "they",
        "them",
        "there",
        "here",
    ]
)


def tokenize(text: str) -> list[str]:
    """Tokens of `text` in order (duplicates kept: BM25 needs term frequencies)."""
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


def token_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))
