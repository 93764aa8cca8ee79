"""`lbi report A B`: two runs on their shared (task, seed) pairs, against the hand-made pair
of tests/view_pairs.py whose answers are worked out by hand; formats and exit codes."""

from __future__ import annotations

import json

import pytest
from view_pairs import NONE, NONE_P, RAG, RAG_ERRORS, RAG_NOT_SHARED, RAG_P, make_pair

from lbi_icl.cli import main as cli_main
from lbi_icl.runner.report_compare import compare_runs, pair_counts
from lbi_icl.runner.significance import mcnemar_exact


@pytest.fixture
def pair(tmp_path):
    return make_pair(tmp_path)


def test_pair_counts_rule():
    a = {("t", 0): 1, ("u", 0): 0, ("v", 0): -1, ("w", 0): 1}
    b = {("t", 0): 0, ("u", 0): 0, ("v", 0): 1, ("x", 0): 1}
    shared, c = pair_counts(a, b)
    assert shared == [("t", 0), ("u", 0)]  # v: A errored; w, x: one side only
    assert c == {
        "both": 0,
        "only_a": 1,
        "only_b": 0,
        "neither": 1,
        "a_not_shared": 1,  # w
        "b_not_shared": 2,  # v (A errored) and x
        "a_errors": 1,
        "b_errors": 0,
    }


def test_comparison_numbers_match_the_hand_computation(pair):
    a, b = pair
    cmp = compare_runs(a, b)
    rows = {r.strategy_a: r for r in cmp.rows}
    assert [r.strategy_a for r in cmp.rows] == ["none", "rag"]
    rag = rows["rag"]
    assert (rag.pairs, rag.both, rag.only_a, rag.only_b, rag.neither) == tuple(
        RAG[k] for k in ("pairs", "both", "only_a", "only_b", "neither")
    )
    assert (rag.a_not_shared, rag.b_not_shared) == RAG_NOT_SHARED
    assert (rag.a_errors, rag.b_errors) == RAG_ERRORS
    assert rag.a_rate == pytest.approx(6 / 9) and rag.b_rate == pytest.approx(3 / 9)
    assert rag.difference == pytest.approx(3 / 9)
    assert rag.p_value == pytest.approx(RAG_P) == pytest.approx(mcnemar_exact(4, 1))
    none = rows["none"]
    assert {k: getattr(none, k) for k in NONE} == NONE
    assert none.p_value == pytest.approx(NONE_P)
    assert any("not shared" in n and "2 finished episode(s) of A, 1 of B" in n for n in cmp.notes)
    # swapping the runs swaps the sides
    back = {r.strategy_a: r for r in compare_runs(b, a).rows}["rag"]
    assert (back.only_a, back.only_b, back.a_errors) == (rag.only_b, rag.only_a, rag.b_errors)
    # explicit pairs: A's rag against B's none
    cross = compare_runs(a, b, [("rag", "none")]).rows[0]
    assert (cross.strategy_a, cross.strategy_b, cross.pairs) == ("rag", "none", 10)
    # t0 both; t1,t2 both (B none solved t0-t2, A rag t0-t5); t3-t5 only A; rest neither
    assert (cross.both, cross.only_a, cross.only_b, cross.neither) == (3, 3, 0, 4)


def test_cli_report_two_runs_formats_and_exit_codes(pair, tmp_path, capsys):
    a, b = pair
    assert cli_main(["report", str(a), str(b)]) == 0  # the terminal table
    out = capsys.readouterr().out
    assert "rag" in out and "66.7%" in out and "33.3%" in out and "0.375" in out
    assert "not shared" in out
    assert cli_main(["report", str(a), str(b), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rag = next(r for r in data["rows"] if r["strategy_a"] == "rag")
    assert (rag["only_a"], rag["only_b"], rag["b_errors"]) == (4, 1, 1)
    assert cli_main(["report", str(a), str(b), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "| rag | 9 | 66.7% | 33.3% | +33.3 pts | 2 | 4 | 1 | 2 | 0.375 | 2/1 | 0/1 |" in md
    assert cli_main(["report", str(a), str(b), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("strategy_a,strategy_b,pairs,")
    out_file = tmp_path / "cmp.md"
    assert cli_main(["report", str(a), str(b), "--output", str(out_file)]) == 0
    assert "| none | 10 |" in out_file.read_text()
    capsys.readouterr()
    assert cli_main(["report", str(a), str(b), "--pair", "rag:none", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["strategy_a"], r["strategy_b"]) for r in rows] == [("rag", "none")]

    # user errors: one line each, exit 1 (2 for usage)
    for argv, said in [
        ([str(a), str(b), "--pair", "agentic:none"], "has no strategy 'agentic'"),
        ([str(a), str(b), "--pair", "rag"], "expected A_STRATEGY:B_STRATEGY"),
        ([str(a), str(b), "--format", "html"], "md, csv or json"),
        ([str(a), str(tmp_path / "missing")], "no such run directory"),
        ([str(a), "--pair", "rag:rag"], "compares two runs"),
    ]:
        assert cli_main(["report", *argv]) == 1, argv
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "manifest.json").write_text(json.dumps({"config": {"env": "babyai"}}))
    assert cli_main(["report", str(a), str(tmp_path / "c")]) == 1
    assert "share no strategy name" in capsys.readouterr().err


def test_different_prompt_layouts_are_noted(pair):
    a, b = pair
    assert not any("prompt layout" in n for n in compare_runs(a, b).notes)  # retrieval-only
    for run, layout in ((a, "stable_first"), (b, None)):  # b: made before the setting
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["config"]["policy"] = "llm"
        if layout is not None:
            manifest["prompt_layout"] = layout
        (run / "manifest.json").write_text(json.dumps(manifest))
    notes = compare_runs(a, b).notes
    assert "the runs use different prompt layouts (stable_first vs examples_first)" in notes
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["prompt_layout"] = "stable_first"
    (b / "manifest.json").write_text(json.dumps(manifest))
    assert not any("prompt layout" in n for n in compare_runs(a, b).notes)
