"""The strategy table is the one list: the factory, config validation and `lbi ablate` read
it, and each row names a retriever class that exists."""

from __future__ import annotations

import importlib

from lbi_icl.retrieval import STRATEGIES, make_retriever
from lbi_icl.retrieval.strategies import ABLATE_DEFAULT, PAPER_STRATEGIES, STRATEGY_TABLE
from lbi_icl.runner.config import KNOWN_STRATEGIES, RunConfig


def test_every_row_names_an_existing_retriever_class() -> None:
    from lbi_icl.retrieval.common import BaseRetriever

    for row in STRATEGY_TABLE:
        cls = getattr(importlib.import_module(row.module), row.cls)
        assert issubclass(cls, BaseRetriever), row.name


def test_consumers_read_the_table() -> None:
    names = tuple(row.name for row in STRATEGY_TABLE)
    assert names == STRATEGIES and names == KNOWN_STRATEGIES
    assert PAPER_STRATEGIES == ("none", "rag", "instruction", "observation", "model", "agentic")
    assert ABLATE_DEFAULT == PAPER_STRATEGIES
    assert type(make_retriever("none", None)).__name__ == STRATEGY_TABLE[0].cls


def test_config_accepts_every_row_and_refuses_others() -> None:
    cfg = RunConfig(env="babyai", strategies=list(STRATEGIES), index="idx", out="o")
    assert cfg.strategies == list(STRATEGIES)
    try:
        RunConfig(env="babyai", strategies=["nosuch"], index="idx", out="o")
    except ValueError as e:
        assert "nosuch" in str(e)
    else:
        raise AssertionError("an unknown strategy was accepted")
