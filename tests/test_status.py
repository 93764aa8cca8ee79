"""The status line of silent stages: shown on a terminal (or when asked), a log line
otherwise; and `lbi run` loads the embedder before the first episode, under it."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from lbi_icl.util import status as status_mod
from lbi_icl.util.status import status


def test_status_logs_and_runs_the_block(caplog: pytest.LogCaptureFixture) -> None:
    ran = []
    with caplog.at_level(logging.INFO, logger="lbi_icl"), status("loading x…", enabled=False):
        ran.append(1)
    assert ran == [1]
    assert "loading x…" in caplog.text


def test_status_draws_a_spinner_line_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=80)
    monkeypatch.setattr("rich.console.Console", lambda **_: console)
    with status("loading the embedder hash:64…", enabled=True):
        console.file.flush()
    assert "loading the embedder hash:64…" in buf.getvalue()


def test_run_warms_the_embedder_before_episodes(tmp_path, monkeypatch) -> None:
    """Dense strategies get the embedder loaded in the shared setup (status shown), BM25-only
    ones never load it."""
    from lbi_icl.embed import load_embedder
    from lbi_icl.index import build_index
    from lbi_icl.runner import RunConfig
    from lbi_icl.runner.workers import _load_shared

    fixtures = "tests/fixtures/retrieval"
    build_index(
        [f"{fixtures}/trajectories.jsonl"],
        tmp_path / "idx",
        docs=[f"{fixtures}/docs.jsonl"],
        embedder=load_embedder("hash:64"),
    )
    shown: list[str] = []
    real = status_mod.status

    def spy(text: str, **kw):  # type: ignore[no-untyped-def]
        shown.append(text)
        return real(text, **kw)

    monkeypatch.setattr("lbi_icl.runner.workers.status", spy)
    cfg = RunConfig(
        env="fake", out=tmp_path / "r", strategies=["none", "observation"], index=tmp_path / "idx"
    )
    shared = _load_shared(cfg)
    assert shared["index"]._embedder is None
    assert not any(s.startswith("loading the embedder") for s in shown)
    assert any(s.startswith("loading the index") for s in shown)
    cfg = RunConfig(
        env="fake", out=tmp_path / "r", strategies=["none", "agentic"], index=tmp_path / "idx"
    )
    shared = _load_shared(cfg)
    assert shared["index"]._embedder is not None
    assert any(s.startswith("loading the embedder") for s in shown)
