"""Report numbers against a hand-computed example; HTML chart and links; CSV/JSON; export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_runner_helpers import FakeEpisode, make_tasks

from lbi_icl.cli import main as cli_main
from lbi_icl.data.jsonl import JsonlAppender, read_trajectories
from lbi_icl.runner import RunConfig, build_report, export_run, report, run_experiment
from lbi_icl.runner import significance as stats
from lbi_icl.runner.report import policy_label
from lbi_icl.runner.results import episode_slug, steps_path

NONE_WINS = {0, 1, 2}  # 3/10
RAG_WINS = {0, 3, 4, 5, 6, 7, 8}  # 7/10
INSTR_WINS = {0, 1, 2, 3, 4}  # 5/9 finished; task 9 errored


def _rec(strategy: str, i: int, success: bool, **kw) -> dict:
    key = f"{strategy}|t{i}|0"
    base = dict(
        task_id=f"t{i}",
        env="babyai",
        strategy=strategy,
        policy="retrieval",
        seed=0,
        success=success,
        score=1.0 if success else 0.0,
        steps=4,
        input_tokens=100,
        output_tokens=10,
        cost_usd=0.01,
        stop_reason="done" if success else "max_steps",
        key=key,
        steps_log=steps_path(key),
    )
    base.update(kw)
    return base


@pytest.fixture
def hand_run(tmp_path: Path) -> Path:
    run = tmp_path / "hand"
    run.mkdir()
    (run / "manifest.json").write_text(
        json.dumps(
            {
                "config": {
                    "env": "babyai",
                    "split": "test",
                    "policy": "retrieval",
                    "strategies": ["none", "rag", "instruction"],
                }
            }
        )
    )
    with JsonlAppender(run / "episodes.jsonl") as app:
        # an earlier, errored attempt at rag|t3: the later record must replace it
        app.write(_rec("rag", 3, False, stop_reason="error", error="EnvError: boom"))
        for i in range(10):
            app.write(_rec("none", i, i in NONE_WINS))
            app.write(_rec("rag", i, i in RAG_WINS, retrieval_latencies_s=[i * 0.01]))
            if i == 9:
                app.write(_rec("instruction", i, False, stop_reason="error", error="EnvError: x"))
            else:
                app.write(_rec("instruction", i, i in INSTR_WINS))
    return run


def test_report_numbers_match_hand_computation(hand_run):
    rep = build_report(hand_run)
    rows = {r.strategy: r for r in rep.strategies}
    assert [r.strategy for r in rep.strategies] == ["none", "rag", "instruction"]

    none, rag, ins = rows["none"], rows["rag"], rows["instruction"]
    assert (none.successes, none.finished, none.success_rate) == (3, 10, 0.3)
    assert (rag.successes, rag.finished, rag.episodes, rag.errors) == (7, 10, 10, 0)
    assert (ins.successes, ins.finished, ins.episodes, ins.errors) == (5, 9, 10, 1)
    # Wilson 95% for 3/10 and 7/10 (textbook values, e.g. Newcombe 1998 style tables)
    assert none.ci_low == pytest.approx(0.1078, abs=1e-4)
    assert none.ci_high == pytest.approx(0.6032, abs=1e-4)
    assert rag.ci_low == pytest.approx(0.3968, abs=1e-4)
    assert rag.ci_high == pytest.approx(0.8922, abs=1e-4)
    assert none.mean_score == pytest.approx(0.3)
    assert none.mean_steps == 4 and none.input_tokens_per_episode == 100
    assert none.cost_per_episode_usd == pytest.approx(0.01)
    # latencies 0, 10, ..., 90 ms: p50 = 45, p95 = 80 + 0.55 * 10
    assert rag.retrieval_p50_ms == pytest.approx(45.0)
    assert rag.retrieval_p95_ms == pytest.approx(85.5)
    assert none.retrieval_p50_ms is None

    paired = {p.strategy: p for p in rep.paired}
    p_rag = paired["rag"]
    assert (p_rag.pairs, p_rag.strategy_only, p_rag.baseline_only) == (10, 6, 2)
    assert p_rag.difference == pytest.approx(0.4)
    assert p_rag.p_value == pytest.approx(2 * (1 + 8 + 28) / 256)  # exact McNemar, n=8, k=2
    p_ins = paired["instruction"]
    assert (p_ins.pairs, p_ins.strategy_only, p_ins.baseline_only) == (9, 2, 0)
    assert p_ins.difference == pytest.approx(2 / 9)
    assert p_ins.p_value == pytest.approx(0.5)
    assert "retrieval-only offline baseline" in rep.label
    assert "scripted" in policy_label("llm", "scripted:replies.jsonl")
    assert policy_label("llm", "openai:gpt-4o") == "LLM policy openai:gpt-4o"


def test_stats_helpers_edge_cases():
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = stats.wilson_interval(0, 5)
    assert lo == 0.0 and 0.4 < hi < 0.45  # 0/5: upper bound 0.4345
    assert stats.binomial_two_sided_p(0, 0) == 1.0
    assert stats.binomial_two_sided_p(0, 10) == pytest.approx(2 / 1024)
    assert stats.binomial_two_sided_p(5, 10) == 1.0
    assert stats.percentile([3.0], 95) == 3.0
    assert stats.bootstrap_mean_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    lo, hi = stats.bootstrap_mean_ci([0.0, 1.0] * 50, seed=1)
    assert 0.35 < lo < 0.5 < hi < 0.65  # mean 0.5, standard error 0.05
    assert stats.bootstrap_mean_ci([0.0, 1.0] * 50, seed=1) == (lo, hi)  # seeded
    assert stats.bootstrap_mean_ci([]) is None
    with pytest.raises(ValueError):
        stats.wilson_interval(4, 3)


def test_formats_markdown_csv_json_and_html(hand_run):
    md = report(hand_run, "md")
    assert "| rag |" in md and "30.0% (3/10)" in md and "retrieval-only offline baseline" in md
    rows = list(csv.DictReader(io.StringIO(report(hand_run, "csv"))))
    assert [r["strategy"] for r in rows] == ["none", "rag", "instruction"]
    assert float(rows[1]["p_value_vs_none"]) == pytest.approx(74 / 256)
    data = json.loads(report(hand_run, "json"))
    assert data["strategies"][1]["successes"] == 7

    page = report(hand_run, "html")
    assert (hand_run / "report.html").read_text() == page
    assert page.count('<rect class="bar"') == 3
    assert 'data-strategy="rag"' in page and "<svg" in page
    for i in range(10):  # every episode links its page in the run viewer, not the raw log
        slug = episode_slug(f"rag|t{i}|0")
        assert page.count(f'href="view/index.html#/episode/{slug}"') == 2
        assert f'href="{steps_path(f"rag|t{i}|0")}"' not in page
    assert "EnvError: x" in page


def test_cli_report_and_export(tmp_path, capsys):
    cfg = RunConfig(env="fake", out=tmp_path / "run", strategies=["none", "rag"], index=tmp_path)
    run_experiment(cfg, tasks=make_tasks(4), episode_fn=FakeEpisode(), show_progress=False)
    assert cli_main(["report", str(cfg.out), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["strategy"] for s in data["strategies"]] == ["none", "rag"]
    assert cli_main(["report", str(cfg.out)]) == 0  # rich table
    assert "rag" in capsys.readouterr().out
    assert cli_main(["report", str(tmp_path / "missing")]) == 1

    out = tmp_path / "export.jsonl"
    assert cli_main(["export", str(cfg.out), "--out", str(out)]) == 0
    trajs = list(read_trajectories(out))
    wins = [r for r in build_report(cfg.out).episodes if r.success]
    assert len(trajs) == len(wins) > 0
    assert all(t.source_kind == "agent_run" and t.outcome == "success" for t in trajs)
    assert {t.task_id for t in trajs} == {r.task_id for r in wins}
    assert len({t.id for t in trajs}) == len(trajs)
    # an existing --out is not replaced unless asked
    before = out.read_bytes()
    assert cli_main(["export", str(cfg.out), "--out", str(out), "--all"]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert cli_main(["export", str(cfg.out), "--out", str(out), "--all", "--overwrite"]) == 0
    assert len(list(read_trajectories(out))) == 8
    n_all = export_run(cfg.out, tmp_path / "all.jsonl", include_all=True)
    assert n_all == 8
    # without a stored trajectory, export rebuilds it from the step log
    for f in (cfg.out / "trajectories").iterdir():
        f.unlink()
    assert export_run(cfg.out, tmp_path / "rebuilt.jsonl") == len(wins)
    rebuilt = list(read_trajectories(tmp_path / "rebuilt.jsonl"))
    assert all(len(t.steps) >= 1 and t.instruction.startswith("reach goal") for t in rebuilt)


def _terminal_headers(run: Path) -> list[str]:
    from lbi_icl.runner.report import rich_table

    return [str(c.header) for c in rich_table(build_report(run)).columns]


def test_terminal_table_shows_parse_rate_only_when_it_says_something(hand_run):
    """Every answer parsed (the retrieval policy): no parsed/valid column in the 80-column
    table; one unparsed answer: the column is back. The md report always has it."""
    with JsonlAppender(hand_run / "episodes.jsonl") as app:
        for strategy in ("none", "rag"):
            for i in range(10):
                app.write(
                    _rec(strategy, i, i in NONE_WINS, policy_calls=4, parsed_calls=4, valid_calls=4)
                )
    assert "100.0%/100.0%" in report(hand_run, "md")
    assert "parsed/valid" not in _terminal_headers(hand_run)
    with JsonlAppender(hand_run / "episodes.jsonl") as app:
        app.write(_rec("none", 0, True, policy_calls=4, parsed_calls=3, valid_calls=3))
    assert "parsed/valid" in _terminal_headers(hand_run)
